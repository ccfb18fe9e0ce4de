"""``--parquet DIR``: features and detections as datasets partitioned by deployment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import DEMO, run_cli

HERON = DEMO / "test" / "heron_burst"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Two deployments (folders) and a file that cannot be read."""
    root = tmp_path_factory.mktemp("pq")
    for cam, files in (("cam_a", sorted(HERON.glob("*.JPG"))[:3]), ("cam_b", sorted(HERON.glob("*.JPG"))[3:5])):
        (root / cam).mkdir()
        for f in files:
            shutil.copy(f, root / cam / f.name)
    (root / "cam_b" / "broken.jpg").write_text("not a photo")
    return root


def test_featurize_parquet_has_every_photo_by_deployment(photos, tmp_path):
    out = tmp_path / "features"
    run_cli("featurize", photos, "--parquet", out, "--catalog", tmp_path / "c.sqlite", "--quiet")
    run_cli("featurize", photos, "--parquet", out, "--catalog", tmp_path / "c.sqlite", "--quiet")  # replaced whole
    assert sorted(p.name for p in out.iterdir()) == ["deployment=cam_a", "deployment=cam_b"]
    t = pq.read_table(out).to_pandas()
    assert len(t) == 6 and set(t["deployment"].astype(str)) == {"cam_a", "cam_b"}
    ok = t[t["failure"].isna()]
    assert len(ok) == 5 and all(len(v) == 1280 for v in ok["feature"])
    assert np.isfinite(np.stack(ok["feature"].to_list())).all()
    bad = t[t["file"] == "cam_b/broken.jpg"]
    assert bad["feature"].isna().all() and "not an image" in bad["failure"].iloc[0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".features")]   # no temp dirs left


def test_detect_parquet_matches_the_md_json(photos, tmp_path):
    out, js = tmp_path / "dets", tmp_path / "r.json"
    run_cli("detect", photos, "--out", js, "--parquet", out, "--detector", "megadetector-lite-fast",
            "--catalog", tmp_path / "c.sqlite", "--quiet")
    doc = json.loads(js.read_text())
    t = pq.read_table(out).to_pandas()
    boxes = [(im["file"], d["conf"]) for im in doc["images"] for d in im.get("detections") or []]
    got = sorted((f, c) for f, c in zip(t["file"], t["conf"], strict=True) if c == c)
    assert got == sorted(boxes) and boxes
    assert set(t["file"]) == {im["file"] for im in doc["images"]}
    assert t.loc[t["file"] == "cam_b/broken.jpg", "failure"].notna().all()


def test_a_folder_that_is_not_a_dataset_is_refused_before_any_work(photos, tmp_path):
    """--parquet replaces an earlier dataset whole, never a folder of other files (photos, say)."""
    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "field_notes.txt").write_text("do not delete")
    proc = run_cli("featurize", photos, "--parquet", precious, "--catalog", tmp_path / "c.sqlite", "--quiet",
                   check=False)
    assert proc.returncode == 2 and "other files" in proc.stderr
    assert (precious / "field_notes.txt").read_text() == "do not delete"
    assert not (tmp_path / "c.sqlite").exists()          # refused before the catalog was touched
