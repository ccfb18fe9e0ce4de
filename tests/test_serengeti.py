"""Serengeti-shaped data (built by irbis synth): multilabel training, submission, aggregated log loss."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_csv
from irbis.evaluate.metrics import aggregated_log_loss
from irbis.labels import LabelsError, read_labels
from irbis.models.bundle import ModelBundle
from irbis.serengeti import read_metadata, read_sequence_labels, read_submission
from irbis.synth import SynthConfig, build_synth, load_kit

pytestmark = pytest.mark.slow   # servers, workers and multilabel training: the full suite only

SMALL = dict(seed=7, cameras=4, bursts_per_camera=6, width=512, height=384, empty_fraction=0.5)


def rows_of(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        r = list(csv.reader(fh))
    return r[0], r[1:]



@pytest.fixture(scope="module")
def serengeti(kit, tmp_path_factory) -> Path:
    """The proxy's metadata.csv / sequence_labels.csv split by camera into train_* and test_* files."""
    out = tmp_path_factory.mktemp("serengeti") / "data"
    build_synth(out, load_kit(kit), SynthConfig(**SMALL), progress=False)
    split = {}
    for r in csv.DictReader(open(out / "labels.csv", encoding="utf-8")):
        split[r["sequence"]] = r["split"]
    mh, mrows = rows_of(out / "metadata.csv")
    lh, lrows = rows_of(out / "sequence_labels.csv")
    for part in ("train", "test"):
        write_csv(out / f"{part}_metadata.csv", mh, [r for r in mrows if split[r[1]] == part])
        write_csv(out / f"{part}_labels.csv", lh, [r for r in lrows if split[r[0]] == part])
    return out


@pytest.fixture(scope="module")
def multilabel_model(serengeti, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ml") / "serengeti.irbis"
    proc = run_cli("train", serengeti / "train_labels.csv", "--serengeti-metadata", serengeti / "train_metadata.csv",
                   "--out", out, "--quiet")
    assert "aggregated log loss" in proc.stdout
    return out


def test_multilabel_bundle(multilabel_model, serengeti):
    b = ModelBundle.load(multilabel_model)
    assert b.task == "multilabel"
    assert b.classes == read_sequence_labels(serengeti / "train_labels.csv").classes   # column order kept
    assert b.classes[0] == "empty"
    p = b.predict_proba(np.zeros((3, 1280), np.float32))
    assert p.shape == (3, len(b.classes)) and ((p >= 0) & (p <= 1)).all()
    assert not np.allclose(p.sum(axis=1), 1.0)        # independent per-class probabilities
    assert b.metrics["cv_groups"] == "location" and b.metrics["cv_aggregated_log_loss"] > 0


def test_submission_in_metadata_order_and_aggregated_log_loss(multilabel_model, serengeti, tmp_path):
    sub, pred = tmp_path / "submission.csv", tmp_path / "pred.csv"
    run_cli("predict", multilabel_model, serengeti, "--out", pred, "--serengeti-metadata",
            serengeti / "test_metadata.csv", "--submission", sub, "--by-sequence", "--quiet")
    meta = read_metadata(serengeti / "test_metadata.csv")
    s = read_submission(sub)
    assert s.seq_ids == meta.sequence_order()
    assert s.classes == read_sequence_labels(serengeti / "test_labels.csv").classes
    # the predictions CSV uses the metadata's file names and seq_ids; burst ensemble not renormalised
    with open(pred, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == meta.files and [r["sequence"] for r in rows] == meta.seq_ids
    first = [r for r in rows if r["sequence"] == s.seq_ids[0]]
    k = s.classes.index("bird") if "bird" in s.classes else 1
    mean = np.mean([float(r[f"prob_{s.classes[k]}"]) for r in first])
    assert s.values[0, k] == pytest.approx(mean, abs=2e-4)
    geo = np.exp(np.mean([np.log(max(float(r["prob_empty"]), 1e-6)) for r in first]))
    assert s.values[0, 0] == pytest.approx(geo, abs=2e-4)
    # evaluate: the Hakuna Ma-data metric
    run_cli("evaluate", sub, "--truth", serengeti / "test_labels.csv", "--out", tmp_path / "r.html")
    m = json.loads((tmp_path / "r.metrics.json").read_text())
    truth = read_sequence_labels(serengeti / "test_labels.csv")
    P = np.stack([s.values[s.seq_ids.index(q)] for q in truth.seq_ids])
    assert m["sequence"]["aggregated_log_loss"] == pytest.approx(aggregated_log_loss(truth.values, P), rel=1e-6)
    assert m["sequence"]["aggregated_log_loss"] < np.log(2)        # better than 0.5 everywhere
    assert m["sequence"]["n"] == len(truth.seq_ids)
    # the per-photo predictions score the same way via their sequence columns
    run_cli("evaluate", pred, "--truth", serengeti / "test_labels.csv", "--out", tmp_path / "p.html")
    m2 = json.loads((tmp_path / "p.metrics.json").read_text())
    assert m2["sequence"]["aggregated_log_loss"] == pytest.approx(m["sequence"]["aggregated_log_loss"], abs=1e-3)


def test_bad_serengeti_input_names_rows(serengeti, tmp_path):
    lh, lrows = rows_of(serengeti / "train_labels.csv")
    dup = write_csv(tmp_path / "dup.csv", lh, lrows[:3] + [lrows[1]])
    with pytest.raises(LabelsError, match=r"line 5: duplicate seq_id '.*' \(first on line 3\)"):
        read_sequence_labels(dup)
    bad = write_csv(tmp_path / "bad.csv", lh, [lrows[0][:1] + ["2"] + lrows[0][2:], lrows[1][:1] + ["x"] + lrows[1][2:]])
    with pytest.raises(LabelsError) as err:
        read_sequence_labels(bad)
    assert "line 2" in str(err.value) and "outside [0, 1] in column(s) empty" in str(err.value)
    assert "line 3" in str(err.value) and "not a number in column(s) empty" in str(err.value)
    with pytest.raises(LabelsError, match="missing column seq_id"):
        read_sequence_labels(write_csv(tmp_path / "nocol.csv", ["id", *lh[1:]], lrows[:2]))
    mh, mrows = rows_of(serengeti / "train_metadata.csv")
    with pytest.raises(LabelsError, match="missing column.*file_name"):
        read_metadata(write_csv(tmp_path / "m.csv", ["path", *mh[1:]], mrows[:2]))
    # a sequence in the metadata without labels, and a missing photo: both named, nothing written
    orphan = write_csv(tmp_path / "orphan.csv", mh, [mrows[0], [mrows[1][0], "NOPE_0001", *mrows[1][2:]],
                                                 ["photos/none.jpg", mrows[0][1], *mrows[0][2:]]])
    model = tmp_path / "never.irbis"
    proc = run_cli("train", serengeti / "train_labels.csv", "--serengeti-metadata", orphan, "--images", serengeti,
                   "--out", model, check=False)
    assert proc.returncode == 2 and not model.exists()
    assert "line 3: seq_id 'NOPE_0001' has no row in train_labels.csv" in proc.stderr
    assert "line 4: file not found: photos/none.jpg" in proc.stderr
    # a sequence labels file given without its metadata
    with pytest.raises(LabelsError, match="--serengeti-metadata"):
        read_labels(serengeti / "train_labels.csv")
    # a submission with a probability above 1
    sh = ["seq_id", *lh[1:]]
    sub = write_csv(tmp_path / "sub.csv", sh, [[lrows[0][0], "1.5", *["0"] * (len(sh) - 2)]])
    proc = run_cli("evaluate", sub, "--truth", serengeti / "train_labels.csv", "--out", tmp_path / "r.html",
                   check=False)
    assert proc.returncode == 2 and "line 2" in proc.stderr and "outside [0, 1]" in proc.stderr
