"""Hostile directory entries are per-photo failures that say what the entry is; deleted and renamed
photos leave the catalog; names that are not valid UTF-8 round-trip into the outputs (issue 9)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from conftest import DEMO, run_cli

from irbis.catalog import Catalog
from irbis.imageio import ImageReadError, open_image
from irbis.ingest import ingest_folder

GOOD = DEMO / "train" / "animals" / "polar_bear.webp"
SCENE = sorted((DEMO / "train" / "no_animals").glob("*.webp"))[0]
RAW_NAME = b"caf\xe9-\xff.jpg"          # Latin-1 bytes: not valid UTF-8
FAST = ["--detector", "megadetector-lite-raw", "--quiet"]


def hostile_folder(root: Path) -> dict[str, str]:
    """A good photo plus every odd entry the probe tried; name -> expected words in the reason."""
    root.mkdir(parents=True)
    shutil.copy(GOOD, root / "good.webp")
    os.symlink(root / "missing-target.jpg", root / "dangling.jpg")
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    os.mkfifo(root / "pipe.jpg")
    os.symlink("/dev/zero", root / "zero_device.jpg")
    shutil.copy(SCENE, os.path.join(os.fsencode(root), RAW_NAME))
    return {"dangling.jpg": "dangling symbolic link", "loop_a.jpg": "symbolic link loop",
            "loop_b.jpg": "symbolic link loop", "pipe.jpg": "FIFO", "zero_device.jpg": "character device"}


def test_ingest_records_each_hostile_entry_as_a_failure_saying_what_it_is(tmp_path):
    photos = tmp_path / "photos"
    expected = hostile_folder(photos)
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(photos, cat, progress=False)
        records = {r.rel_path: r for r in cat.images(photos)}
    assert report.scanned == 7
    for name, words in expected.items():
        assert words in report.failures[name], (name, report.failures[name])
    assert "missing-target" not in report.failures["dangling.jpg"]      # never names the target
    raw = os.fsdecode(RAW_NAME)
    assert records[raw].failure is None and records[raw].sha256          # odd name, fine photo
    assert records["good.webp"].failure is None


def test_decoding_never_blocks_on_a_fifo_and_says_what_the_entry_is(tmp_path):
    expected = hostile_folder(tmp_path / "p")
    for name, words in expected.items():
        try:
            open_image(tmp_path / "p" / name)
        except ImageReadError as exc:
            assert words in str(exc), (name, str(exc))
        else:
            raise AssertionError(f"{name} decoded")


def test_unreadable_file_is_a_failure_not_a_traceback(tmp_path, monkeypatch):
    """(Tests run as root here, where chmod 000 still reads: the refusal is injected at os.open.)"""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(GOOD, photos / "locked.webp")
    real_open, real_access = os.open, os.access

    def deny(path, *a, **k):
        if str(path).endswith("locked.webp"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", deny)
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if str(p).endswith("locked.webp")
                        else real_access(p, m, **k))
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(photos, cat, progress=False)
    assert "permission denied" in report.failures["locked.webp"]
    try:
        open_image(photos / "locked.webp")
    except ImageReadError as exc:
        assert "permission denied" in str(exc).lower()
    else:
        raise AssertionError("decoded a file it may not read")


def test_detect_survives_hostile_entries_and_round_trips_a_non_utf8_name(tmp_path):
    photos = tmp_path / "photos"
    expected = hostile_folder(photos)
    out = tmp_path / "results.json"
    proc = run_cli("detect", photos, "--out", out, *FAST)
    assert "Traceback" not in proc.stderr
    by_file = {im["file"]: im for im in json.loads(out.read_text())["images"]}
    assert len(by_file) == 7
    for name, words in expected.items():
        assert words in by_file[name]["failure"]
    raw = os.fsdecode(RAW_NAME)          # JSON keeps the name's bytes as \udcxx escapes: os.fsencode gives them back
    assert raw in by_file and "failure" not in by_file[raw]
    assert os.fsencode(raw) == RAW_NAME


def test_deleted_and_renamed_photos_leave_the_outputs(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        shutil.copy(GOOD if i % 2 else SCENE, photos / f"p{i}.webp")
    out = tmp_path / "r.json"
    run_cli("detect", photos, "--out", out, *FAST)
    (photos / "p0.webp").unlink()
    (photos / "p1.webp").rename(photos / "renamed.webp")
    run_cli("detect", photos, "--out", out, *FAST)
    files = sorted(im["file"] for im in json.loads(out.read_text())["images"])
    assert files == ["p2.webp", "renamed.webp"]


def test_hidden_photos_are_skipped_with_a_word(tmp_path):
    photos = tmp_path / "photos"
    (photos / ".thumbs").mkdir(parents=True)
    shutil.copy(GOOD, photos / "good.webp")
    shutil.copy(GOOD, photos / ".hidden.webp")
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(photos, cat, progress=False)
    assert report.scanned == 1 and sorted(report.hidden) == [".hidden.webp", ".thumbs"]
    assert "2 hidden entries" in report.summary()


def test_a_non_utf8_name_round_trips_into_a_csv(tmp_path):
    from irbis.atomic import write_csv_atomic
    name = os.fsdecode(RAW_NAME)
    write_csv_atomic(tmp_path / "p.csv", ["file", "predicted"], [[name, "animal"]])
    assert RAW_NAME in (tmp_path / "p.csv").read_bytes()       # the file's own bytes, as ls shows them
