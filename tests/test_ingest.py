"""Ingest: scanning, EXIF, deployments, clock offsets and sequences, on real photos."""

from __future__ import annotations

import shutil

import pytest
from conftest import run_cli
from data.exif_survey.data import make as make_survey
from data.exif_survey.data import write_photo

from irbis.catalog import Catalog
from irbis.ingest import IngestError, ingest_folder, parse_clock_offsets


def test_real_night_ir_heron_burst_is_one_sequence(kit, tmp_path):
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(kit / "cameratrap/dev/camtrapdp_heron", cat, progress=False)
        recs = cat.images(kit / "cameratrap/dev/camtrapdp_heron")
        seqs = cat.sequences()
    assert report.added == 10 and not report.failures
    assert len(seqs) == 1 and seqs[0]["n_frames"] == 10
    assert seqs[0]["start"] == "2021-04-11T20:43:09" and seqs[0]["end"] == "2021-04-11T20:43:15"
    assert {r.width for r in recs} == {2048} and all(r.taken_at for r in recs)


def test_real_frames_from_several_cameras(kit, tmp_path):
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(kit / "cameratrap/dev", cat, progress=False)
        row = cat.db.execute("SELECT make, model FROM images WHERE rel_path LIKE 'camtrapdp_heron/%'").fetchone()
    assert report.deployments == 4
    assert row["make"] and "RECONYX" in row["make"].upper()


def test_sequences_split_on_gaps_with_clock_offset(tmp_path):
    photos = make_survey(tmp_path / "survey")     # camA's third frame comes 270 s later: a new sequence
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(photos, cat, progress=False)
        assert report.scanned == 6 and report.deployments == 2
        recs = {r.rel_path: r for r in cat.images(photos)}
        assert recs["camA/a1.jpg"].sequence_id == recs["camA/a2.JPG"].sequence_id
        assert recs["camA/a3.jpeg"].sequence_id != recs["camA/a1.jpg"].sequence_id
        assert recs["camB/b1.jpg"].sequence_id == recs["camB/b2.png"].sequence_id
        assert recs["camB/untimed.webp"].taken_at is None
        assert recs["camB/untimed.webp"].sequence_id not in {recs["camB/b1.jpg"].sequence_id}
        # camB's clock was an hour slow: the offset corrects the times, sequences keep their frames.
        ingest_folder(photos, cat, clock_offsets=parse_clock_offsets(["camB=+3600"]), progress=False)
        recs = {r.rel_path: r for r in cat.images(photos)}
        assert recs["camB/b1.jpg"].taken_at == "2024-03-01T10:00:00"
        assert recs["camA/a1.jpg"].taken_at == "2024-03-01T10:00:00"
        # A shorter gap splits the 30 s pair.
        ingest_folder(photos, cat, sequence_gap_s=20, progress=False)
        recs = {r.rel_path: r for r in cat.images(photos)}
        assert recs["camA/a1.jpg"].sequence_id != recs["camA/a2.JPG"].sequence_id
        assert recs["camB/b1.jpg"].sequence_id == recs["camB/b2.png"].sequence_id


def test_reingest_is_idempotent_and_adds_only_new_files(tmp_path):
    photos = tmp_path / "survey"
    write_photo(photos / "cam" / "1.jpg", "2024:03:01 10:00:00")
    write_photo(photos / "cam" / "2.jpg", "2024:03:01 10:00:01")
    with Catalog(tmp_path / "c.sqlite") as cat:
        first = ingest_folder(photos, cat, progress=False)
        ids = {r.rel_path: r.id for r in cat.images(photos)}
        again = ingest_folder(photos, cat, progress=False)
        assert (first.added, again.added, again.unchanged) == (2, 0, 2)
        write_photo(photos / "cam" / "3.jpg", "2024:03:01 10:00:02")
        third = ingest_folder(photos, cat, progress=False)
        assert (third.added, third.unchanged) == (1, 2)
        recs = cat.images(photos)
        assert {r.rel_path: r.id for r in recs if r.rel_path in ids} == ids
        assert len({r.sequence_id for r in recs}) == 1


def test_deployment_csv_and_bad_offsets(tmp_path):
    photos = tmp_path / "survey"
    write_photo(photos / "card1" / "x.jpg", "2024:03:01 10:00:00")
    write_photo(photos / "card2" / "y.jpg", "2024:03:01 10:00:05")
    mapping = tmp_path / "deployments.csv"
    mapping.write_text("folder,deployment,latitude,longitude\ncard1,ridge,43.1,77.2\ncard2,ridge,43.1,77.2\n")
    with Catalog(tmp_path / "c.sqlite") as cat:
        report = ingest_folder(photos, cat, deployment_csv=mapping, progress=False)
        recs = cat.images(photos)
        assert report.deployments == 1 and {r.deployment for r in recs} == {"ridge"}
        assert len({r.sequence_id for r in recs}) == 1   # same camera, 5 s apart
        with pytest.raises(IngestError, match="unknown deployment"):
            ingest_folder(photos, cat, clock_offsets={"nope": 5}, progress=False)
    with pytest.raises(IngestError, match="DEPLOYMENT=SECONDS"):
        parse_clock_offsets(["camB+3600"])
    bad = tmp_path / "bad.csv"
    bad.write_text("path,camera\nx,y\n")
    with Catalog(tmp_path / "c2.sqlite") as cat, pytest.raises(IngestError, match="needs columns"):
        ingest_folder(photos, cat, deployment_csv=bad, progress=False)


def test_ingest_cli(kit, tmp_path):
    photos = tmp_path / "heron"
    shutil.copytree(kit / "cameratrap/dev/camtrapdp_heron", photos)
    out = run_cli("ingest", photos, "--catalog", tmp_path / "c.sqlite", "--clock-offset", "heron=-7200",
                  "--quiet")
    assert "10 new" in out.stdout and "1 sequences" in out.stdout
    with Catalog(tmp_path / "c.sqlite") as cat:
        assert cat.sequences()[0]["start"] == "2021-04-11T18:43:09"
    bad = run_cli("ingest", photos, "--clock-offset", "oops", check=False)
    assert bad.returncode == 2 and "DEPLOYMENT=SECONDS" in bad.stderr
