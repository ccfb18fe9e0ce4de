"""Faults of the machine stop a run loudly and record nothing; bad arguments are refused before any
work; two runs never share an output; outputs respect the umask (issue 9, items 2, 7, 8, 9).

Disk full is injected at the real write path (``torch.onnx.export`` writing half a graph, then
ENOSPC; the journal's write), since tests cannot count on mounting a tmpfs; bench/faults.py
replays the same faults on a real full tmpfs."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import DEMO, run_cli

from irbis.atomic import atomic_write
from irbis.cli import main
from irbis.outputs import OutputLock

GOOD = DEMO / "train" / "animals" / "polar_bear.webp"
SCENE = sorted((DEMO / "train" / "no_animals").glob("*.webp"))[0]
RAW = ["--detector", "megadetector-lite-raw", "--quiet"]


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(3):
        shutil.copy(GOOD if i % 2 else SCENE, root / f"p{i}.webp")
    return root


def journal_records(out: Path) -> list[dict]:
    j = Path(str(out) + ".journal.jsonl")
    if not j.exists():
        return []
    return [json.loads(x) for x in j.read_text().splitlines()[1:] if x.strip()]


def test_disk_full_while_writing_the_model_graph_stops_the_run_and_records_nothing(photos, tmp_path, monkeypatch,
                                                                                   capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("IRBIS_HOME", str(home))      # no graph exported yet: the export hits the full disk
    import torch

    def full_disk_export(module, args, f, **kw):
        Path(f).write_bytes(b"\0" * 4096)                # a partial graph, as a full disk leaves it
        raise OSError(errno.ENOSPC, "No space left on device", str(f))
    monkeypatch.setattr(torch.onnx, "export", full_disk_export)
    out = tmp_path / "r.json"
    code = main(["detect", str(photos), "--out", str(out), *RAW])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "No space left on device" in err and "Traceback" not in err
    assert journal_records(out) == []                # no photo "failed: detector failed: OSError ..."
    assert not out.exists()
    assert [p.name for p in (home / "onnx").iterdir()] == []     # no partial *.tmpPID graph left
    monkeypatch.undo()
    monkeypatch.setenv("IRBIS_HOME", str(home))
    assert main(["detect", str(photos), "--out", str(out), *RAW]) == 0   # space freed: the re-run does it all
    assert not any("failure" in im for im in json.loads(out.read_text())["images"])


def test_disk_full_on_the_journal_stops_cleanly_and_the_rerun_resumes(photos, tmp_path, monkeypatch, capsys):
    from irbis import runs
    out = tmp_path / "r.json"
    real = runs.RunJournal.append
    calls = {"n": 0}

    def append(self, key, record):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        return real(self, key, record)
    monkeypatch.setattr(runs.RunJournal, "append", append)
    assert main(["detect", str(photos), "--out", str(out), *RAW]) == 3
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and not out.exists()
    monkeypatch.undo()
    assert main(["detect", str(photos), "--out", str(out), *RAW]) == 0
    assert "1 resumed" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["images"]) == 3


@pytest.mark.parametrize("args, words", [
    (["--threshold", "7"], "--threshold must be between 0.0 and 1.0"),
    (["--threshold", "-1"], "--threshold must be between 0.0 and 1.0"),
])
def test_bad_thresholds_are_refused_before_any_work(photos, tmp_path, args, words):
    proc = run_cli("detect", photos, "--out", tmp_path / "r.json", *RAW, *args, check=False)
    assert proc.returncode == 2 and words in proc.stderr


def test_out_naming_a_folder_or_a_missing_folder_is_refused_before_any_work(photos, tmp_path):
    catalog = tmp_path / "cat.sqlite"
    proc = run_cli("detect", photos, "--out", tmp_path, "--catalog", catalog, *RAW, check=False)
    assert proc.returncode == 2 and "is a folder" in proc.stderr
    missing = tmp_path / "nope" / "r.json"
    proc = run_cli("detect", photos, "--out", missing, "--catalog", catalog, *RAW, check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "journal" not in proc.stderr
    assert not catalog.exists()                       # refused before the survey was even catalogued
    proc = run_cli("predict", "no-model.irbis", photos, "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "is a folder" in proc.stderr


def test_a_second_run_on_the_same_output_is_refused(photos, tmp_path):
    out = tmp_path / "r.json"
    with OutputLock(out):
        proc = run_cli("detect", photos, "--out", out, *RAW, check=False)
    assert proc.returncode == 2 and "another irbis run" in proc.stderr and f"pid {os.getpid()}" in proc.stderr
    assert not out.exists() and not Path(str(out) + ".journal.stale.jsonl").exists()
    assert not Path(str(out) + ".lock").exists()      # released and removed
    run_cli("detect", photos, "--out", out, *RAW)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_outputs_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "results.csv", "a,b\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_graphs_half_written_by_killed_processes_are_cleaned(tmp_path):
    from irbis.models.onnx_runtime import remove_stale_exports
    graph = tmp_path / "m.onnx"
    dead, alive = tmp_path / "m.tmp999999999", tmp_path / f"m.tmp{os.getpid()}"
    dead.write_bytes(b"half")
    alive.write_bytes(b"in progress")
    remove_stale_exports(graph)
    assert not dead.exists() and alive.exists()
