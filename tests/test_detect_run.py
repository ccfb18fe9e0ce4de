"""irbis detect / irbis run: MD JSON that validates, bad files as failures, kill -9 resumption."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEMO, REPO, run_cli, validate_md_json
from test_bad_input import make_bad_folder

FAST = ["--detector", "megadetector-lite-fast"]




def comparable(path: Path) -> dict:
    d = json.loads(path.read_text())
    d["info"].pop("detection_completion_time")
    d["info"].pop("classification_completion_time", None)
    return d


@pytest.fixture(scope="module")
def survey(tmp_path_factory, kit) -> Path:
    """Real trap frames: the heron burst, jaguars and two animal-free scenes, plus bad files."""
    root = tmp_path_factory.mktemp("survey")
    shutil.copytree(kit / "cameratrap/dev/camtrapdp_heron", root / "heron", ignore=shutil.ignore_patterns("*.csv", "*.json"))
    jag = sorted((kit / "cameratrap/dev/animl_Jaguar").glob("*.jpg"))[:6]
    (root / "jaguar").mkdir()
    for f in jag:
        shutil.copy(f, root / "jaguar" / f.name)
    (root / "scenes").mkdir()
    for f in sorted((DEMO / "train/no_animals").glob("*.webp"))[:2]:
        shutil.copy(f, root / "scenes" / f.name)
    return root


def test_detect_writes_valid_md_json_with_failures(survey, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(survey, photos)
    make_bad_folder(photos / "bad")
    out = tmp_path / "results.json"
    proc = run_cli("detect", photos, "--out", out, *FAST, "--quiet")
    assert "failed" in proc.stdout
    check = validate_md_json(out)
    assert check["errors"] == [], check
    d = json.loads(out.read_text())
    assert d["info"]["format_version"] == "1.6"
    assert d["detection_categories"] == {"1": "animal", "2": "person", "3": "vehicle"}
    meta = d["info"]["detector_metadata"]
    assert {"typical_detection_threshold", "conservative_detection_threshold"} <= set(meta)
    by_file = {im["file"]: im for im in d["images"]}
    assert by_file["bad/truncated.jpg"]["detections"] is None and "truncated" in by_file["bad/truncated.jpg"]["failure"]
    assert by_file["bad/zero.jpg"]["failure"].startswith("empty file")
    assert by_file["bad/cmyk.jpg"]["detections"] is not None
    for im in d["images"]:
        for det in im["detections"] or []:
            x, y, w, h = det["bbox"]
            assert 0 <= x <= 1 and 0 <= y <= 1 and x + w <= 1.0001 and y + h <= 1.0001
        confs = [det["conf"] for det in im["detections"] or []]
        assert confs == sorted(confs, reverse=True)
    jaguars = [im for f, im in by_file.items() if f.startswith("jaguar/")]
    assert sum(bool(im["detections"]) for im in jaguars) >= 3   # the fast variant; see test_detector.py


def test_run_classifies_every_animal_box(survey, tmp_path):
    model = tmp_path / "m.irbis"
    run_cli("train", DEMO / "train" / "labels.csv", "--out", model, "--C", "1", "--quiet")
    out = tmp_path / "run.json"
    proc = run_cli("run", survey, "--model", model, "--out", out, "--detector", "megadetector-lite-fast", "--quiet")
    assert "animal boxes by class" in proc.stdout
    assert validate_md_json(out)["errors"] == []
    d = json.loads(out.read_text())
    assert d["classification_categories"] == {"0": "animal", "1": "no_animal"}
    animal_boxes = [det for im in d["images"] for det in im["detections"] or [] if det["category"] == "1"
                    and det["conf"] >= 0.2]
    assert animal_boxes and all(det.get("classifications") for det in animal_boxes)
    # sequence ensemble: every box of the heron burst carries the same classification
    heron = {json.dumps(det["classifications"]) for im in d["images"] if im["file"].startswith("heron/")
             for det in im["detections"] or [] if det["category"] == "1"}
    assert len(heron) <= 1


def _journal_lines(out: Path) -> int:
    j = Path(str(out) + ".journal.jsonl")
    try:
        return j.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_kill_9_at_several_moments_then_resume_equals_an_uninterrupted_run(survey, tmp_path):
    reference = tmp_path / "reference.json"
    run_cli("detect", survey, "--out", reference, *FAST, "--quiet", "--catalog", tmp_path / "ref.sqlite")
    out = tmp_path / "resumed.json"
    cmd = [sys.executable, "-m", "irbis.cli", "detect", str(survey), "--out", str(out), *FAST, "--quiet",
           "--catalog", str(tmp_path / "c.sqlite")]
    kills = 0
    for stop_after in (1, 5, 11):        # journal lines (the first is the header)
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=os.environ.copy())
        deadline = time.time() + 300
        while proc.poll() is None and _journal_lines(out) < stop_after and time.time() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            assert not out.exists(), "a killed run must not leave a final file"
        else:
            break                        # it finished on its own: nothing left to interrupt
    assert kills >= 2, "the run finished before it could be killed"
    if not out.exists():                 # the usual case: the last round was killed too
        resumed = run_cli("detect", survey, "--out", out, *FAST, "--catalog", tmp_path / "c.sqlite", "--quiet")
        assert "resumed from the journal" in resumed.stdout
    assert comparable(out) == comparable(reference)
    assert not Path(str(out) + ".journal.jsonl").exists()
    d = json.loads(out.read_text())
    assert len(d["images"]) == len({im["file"] for im in d["images"]}) == 18


def test_unknown_and_unavailable_detectors_are_clear_errors(tmp_path):
    proc = run_cli("detect", DEMO / "test" / "heron_burst", "--out", tmp_path / "x.json", "--detector", "yolo9000",
                   check=False)
    assert proc.returncode == 2 and "unknown detector" in proc.stderr
    # --model, the old name of --detector in `irbis detect`, still works and says it is deprecated
    proc = run_cli("detect", DEMO / "test" / "heron_burst", "--out", tmp_path / "x.json", "--model", "yolo9000",
                   check=False)
    assert proc.returncode == 2 and "deprecated" in proc.stderr and "unknown detector" in proc.stderr
    proc = run_cli("detect", DEMO / "test" / "heron_burst", "--out", tmp_path / "x.json", "--model",
                   str(tmp_path / "md_v5a.0.0.pt"), check=False)
    assert proc.returncode == 2 and ("not found" in proc.stderr or "megadetector" in proc.stderr)
    assert not (tmp_path / "x.json").exists()


@pytest.mark.skipif(not os.environ.get("IRBIS_MDV5A_WEIGHTS"),
                    reason="MegaDetector v5a weights not on this machine (set IRBIS_MDV5A_WEIGHTS=/path/md_v5a.0.0.pt; "
                           "needs the megadetector package with its PyTorch/YOLOv5 dependencies)")
def test_megadetector_v5a_when_present(tmp_path):
    out = tmp_path / "md.json"
    run_cli("detect", DEMO / "test" / "heron_burst", "--out", out, "--model", os.environ["IRBIS_MDV5A_WEIGHTS"])
    assert validate_md_json(out)["errors"] == []


@pytest.mark.slow
def test_train_on_detector_crops_then_run(kit, tmp_path):
    """A species model learnt from detector crops of real trap frames classifies `irbis run`'s boxes."""
    labels = ["file,label"]
    for folder, label in (("animl_Jaguar", "jaguar"), ("camtrapdp_heron", "heron")):
        (tmp_path / folder).symlink_to(kit / "cameratrap/dev" / folder)
        labels += [f"{folder}/{f.name},{label}" for f in sorted((kit / "cameratrap/dev" / folder).glob("*.[jJ][pP][gG]"))]
    (tmp_path / "labels.csv").write_text("\n".join(labels) + "\n")
    model = tmp_path / "crops.irbis"
    proc = run_cli("train", tmp_path / "labels.csv", "--out", model, "--crops", "megadetector-lite-fast",
                   "--C", "1", "--no-flip", "--quiet")
    assert "features of detector crops (megadetector-lite-fast)" in proc.stdout
    from irbis.models.bundle import ModelBundle
    assert ModelBundle.load(model).metrics["trained_on"].startswith("detector crops")
    out = tmp_path / "run.json"
    run_cli("run", DEMO / "test" / "heron_burst", "--model", model, "--out", out,
            "--detector", "megadetector-lite-fast", "--quiet")
    d = json.loads(out.read_text())
    labels_seen = {d["classification_categories"][det["classifications"][0][0]]
                   for im in d["images"] for det in im["detections"] or [] if det.get("classifications")}
    assert labels_seen == {"heron"}
