"""Training and prediction end to end, on real photos and real camera-trap frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import read_rows, run_cli
from irbis.models.bundle import ModelBundle
from irbis.predict import predict
from irbis.train import train



@pytest.fixture(scope="module")
def split_photos(kit, tmp_path_factory):
    """The kit's 24 animal photos and 25 animal-free scenes, every third one held out."""
    root = tmp_path_factory.mktemp("photos")
    labels = ["file,label"]
    for folder, label in (("animals", "animal"), ("no_animals", "no_animal")):
        for i, src in enumerate(sorted((kit / "photos" / folder).glob("*.webp"))):
            part = "heldout" if i % 3 == 2 else "train"
            dst = root / part / folder / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
            if part == "train":
                labels.append(f"{folder}/{src.name},{label}")
    (root / "train" / "labels.csv").write_text("\n".join(labels) + "\n")
    return root


@pytest.fixture(scope="module")
def model(split_photos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "animal.irbis"
    report = train(split_photos / "train" / "labels.csv", out)
    assert report.metrics["cv_accuracy"] >= 0.8
    assert set(report.metrics["per_class"]) == {"animal", "no_animal"}
    return out


def test_separates_animals_from_animal_free_scenes_on_held_out_photos(model, split_photos, tmp_path):
    out = tmp_path / "pred.csv"
    report = predict(model, split_photos / "heldout", out)
    rows = read_rows(out)
    assert report.n_photos == len(rows) == 16
    truth = {"animals": "animal", "no_animals": "no_animal"}
    correct = sum(r["predicted"] == truth[r["file"].split("/")[0]] for r in rows)
    assert correct / len(rows) >= 0.85, rows


def test_real_camera_trap_frames_and_sequence_ensemble(model, kit, tmp_path):
    """A classifier trained on curated photos still finds the animals in real trap frames."""
    photos = tmp_path / "traps"
    shutil.copytree(kit / "cameratrap/dev/camtrapdp_heron", photos / "heron", ignore=shutil.ignore_patterns("*.csv", "*.json"))
    shutil.copytree(kit / "cameratrap/dev/animl_Jaguar", photos / "jaguar", ignore=shutil.ignore_patterns("*.csv"))
    out = tmp_path / "pred.csv"
    predict(model, photos, out, by_sequence=True)
    rows = read_rows(out)
    assert len(rows) == 29
    expected = ["file", "sequence", "predicted", "confidence", "failure", "prob_animal", "prob_no_animal",
                "sequence_predicted", "sequence_confidence", "sequence_prob_animal", "sequence_prob_no_animal"]
    assert list(rows[0]) == expected
    heron = [r for r in rows if r["file"].startswith("heron/")]
    assert len({r["sequence"] for r in heron}) == 1
    assert {r["sequence_predicted"] for r in heron} == {"animal"}
    seq_p = float(heron[0]["sequence_prob_animal"])
    assert seq_p == pytest.approx(np.mean([float(r["prob_animal"]) for r in heron]), abs=1e-3)
    animal_share = np.mean([r["predicted"] == "animal" for r in rows])
    assert animal_share >= 0.9
    for r in rows:
        assert abs(float(r["prob_animal"]) + float(r["prob_no_animal"]) - 1) < 1e-3


def test_multiclass_on_real_camera_trap_frames(kit, tmp_path):
    """Three real trap sites as classes; CV grouped by EXIF sequence so bursts never straddle folds."""
    labels = ["file,label"]
    for folder, label in (("camtrapdp_heron", "heron"), ("animl_Jaguar", "jaguar"), ("animl_BUOW", "owl_burrow")):
        for f in sorted((kit / "cameratrap/dev" / folder).glob("*.[jJ][pP][gG]")):
            labels.append(f"{folder}/{f.name},{label}")
    csv_path = kit / "cameratrap/dev" / "labels.csv"
    local = tmp_path / "labels.csv"
    # Paths are relative to the CSV: write it beside copies of the photos' folders via symlinks.
    for folder in ("camtrapdp_heron", "animl_Jaguar", "animl_BUOW"):
        (tmp_path / folder).symlink_to(kit / "cameratrap/dev" / folder)
    local.write_text("\n".join(labels) + "\n")
    assert not csv_path.exists()
    out = tmp_path / "sites.irbis"
    report = train(local, out, flip=False)
    bundle = ModelBundle.load(out)
    assert bundle.task == "multiclass" and bundle.classes == ["heron", "jaguar", "owl_burrow"]
    # The whole heron burst is one sequence, so no fold could test herons without training on
    # none: cross-validation is refused (with the reason) rather than leaking the burst.
    assert "cv_accuracy" not in report.metrics
    assert "at least 2 groups" in report.metrics["cv_skipped"]
    assert "no cross-validation" in report.summary()
    # Two sites with many sequences each: grouped CV runs.
    two = tmp_path / "two.csv"
    two.write_text("\n".join(l for l in labels if "heron" not in l) + "\n")
    m = train(two, tmp_path / "two.irbis", flip=False).metrics
    assert m["cv_accuracy"] >= 0.85 and "sequence" in m["cv_groups"]


def test_cli_train_and_predict(split_photos, tmp_path):
    model = tmp_path / "m.irbis"
    out = run_cli("train", split_photos / "train" / "labels.csv", "--out", model, "--quiet", "--layer", "stage7")
    assert "cross-validated" in out.stdout and "precision" in out.stdout
    assert ModelBundle.load(model).layer == "stage7"
    pred = run_cli("predict", model, split_photos / "heldout", "--out", tmp_path / "p.csv", "--by-sequence",
                   "--quiet")
    assert "16 photos" in pred.stdout and "0 failure(s)" in pred.stdout
    assert len(read_rows(tmp_path / "p.csv")) == 16
    no_flip = run_cli("train", split_photos / "train" / "labels.csv", "--out", tmp_path / "n.irbis",
                      "--no-flip", "--quiet")
    assert "(33 rows with flips)" in no_flip.stdout or "33 photos (33 rows" in no_flip.stdout
    assert ModelBundle.load(tmp_path / "n.irbis").flip_augment is False
