"""``irbis watch`` on real trap frames: half-copied files are waited for, kill -9 loses and redoes
nothing, and the dashboard sees what landed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO

FAST = "megadetector-lite-fast"


def _start(folder: Path, out: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "irbis.cli", "watch", str(folder), "--out", str(out),
                             "--detector", FAST, "--settle", "0.5", "--poll", "0.2", "--quiet"],
                            cwd=REPO, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=dict(os.environ))


def _wait_images(out: Path, n: int, proc: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "irbis watch died"
        if out.is_file():
            doc = json.loads(out.read_text())
            if len(doc["images"]) >= n:
                return doc
        time.sleep(0.2)
    raise AssertionError(f"{out} never held {n} photos")


def test_watch_waits_for_copies_survives_kill9_and_feeds_dashboard(kit, tmp_path):
    frames = sorted((kit / "cameratrap" / "dev" / "camtrapdp_heron").glob("*.JPG"))[:5]
    folder, out, log = tmp_path / "drop", tmp_path / "live.json", tmp_path / "watch.log"
    (folder / "HERON").mkdir(parents=True)
    proc = _start(folder, out, log)
    try:
        for f in frames[:2]:
            shutil.copy(f, folder / "HERON" / f.name)
        # a photo still being copied: half now, the rest after the watcher has seen it hold still
        data = frames[2].read_bytes()
        slow = folder / "HERON" / frames[2].name
        slow.write_bytes(data[: len(data) // 2])
        time.sleep(3)
        with open(slow, "ab") as fh:
            fh.write(data[len(data) // 2:])
        doc = _wait_images(out, 3, proc)
        assert all(im.get("failure") is None for im in doc["images"]), doc["images"]
        time.sleep(1)
        doc = json.loads(out.read_text())
        assert all(im.get("failure") is None for im in doc["images"])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for f in frames[3:]:
            shutil.copy(f, folder / "HERON" / f.name)
        proc = _start(folder, out, log)
        doc = _wait_images(out, 5, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert "3 photo(s) already done" in log.read_text()
    journal = [json.loads(line) for line in Path(str(out) + ".journal.jsonl").read_text().splitlines()[1:]]
    assert sorted(r["file"] for r in journal) == sorted(f"HERON/{f.name}" for f in frames)   # none redone
    assert len({im["seq_id"] for im in doc["images"]}) == 1           # the burst rebuilt as its frames landed
    assert doc["info"]["irbis"]["photos_root"] == str(folder.resolve())

    from irbis.dashboard.index import Index
    from irbis.dashboard.sources import ResultsSource, load_source
    ix = Index(tmp_path / "dash.sqlite")
    assert load_source(ix, ResultsSource("live", out)) == 5
    assert load_source(ix, ResultsSource("live", out)) is None        # unchanged: not reloaded
    paths = [r["path"] for r in ix.query("SELECT path FROM photos")]
    assert all(p and Path(p).is_file() for p in paths)
