"""Camtrap DP 1.0.2 out and in, validated with frictionless + jsonschema against the kit's official schemas."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from conftest import read_rows, run_cli, validate_md_json, write_csv

from irbis.catalog import Catalog
from irbis.formats.camtrap_dp import ExportOptions, export_camtrap_dp
from irbis.formats.camtrap_dp_validate import SCHEMA_DIR, CamtrapDPError, validate_package
from irbis.formats.md_json import write_results
from irbis.formats.survey import SurveyMismatch, load_survey
from irbis.formats.taxa import read_taxonomy
from irbis.ingest.camtrap_dp import ingest_package, locate_media, package_labels, package_to_results, read_package

HERON = "cameratrap/dev/camtrapdp_heron"
SCHEMAS = "cameratrap/schemas/camtrap-dp-1.0.2"


@pytest.fixture(scope="module")
def heron(kit) -> Path:
    return kit / HERON


@pytest.fixture(scope="module")
def schemas(kit) -> Path:
    return kit / SCHEMAS


def _copy_package(src: Path, dst: Path, photos: bool = False) -> Path:
    shutil.copytree(src, dst, ignore=None if photos else shutil.ignore_patterns("*.JPG"))
    for f in dst.iterdir():
        f.chmod(0o644)
    dst.chmod(0o755)
    return dst


def test_bundled_schemas_are_the_official_ones(schemas):
    for f in sorted(schemas.glob("*.json")):
        assert (SCHEMA_DIR / f.name).read_bytes() == f.read_bytes(), f.name


def test_official_example_is_valid_and_broken_copies_name_file_row_field(heron, schemas, tmp_path):
    assert validate_package(heron, schemas) == []
    bad = _copy_package(heron, tmp_path / "bad")
    obs = (bad / "observations.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    obs[2] = obs[2].replace(",animal,", ",animals,", 1)              # enum, row 3
    obs[3] = obs[3].replace("00a2c20d,", "nowhere,", 1)             # foreign key to deployments, row 4
    (bad / "observations.csv").write_text("".join(obs), encoding="utf-8")
    media = (bad / "media.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    media[1] = media[1].replace("2020-05-30T04:57:37+02:00", "30/05/2020", 1)   # datetime type, row 2
    (bad / "media.csv").write_text("".join(media), encoding="utf-8")
    d = json.loads((bad / "datapackage.json").read_text())
    d["project"]["samplingDesign"] = "random-ish"
    del d["temporal"]
    (bad / "datapackage.json").write_text(json.dumps(d))
    problems = validate_package(bad, schemas)
    text = "\n".join(problems)
    assert "observations.csv row 3 field observationType: constraint-error" in text
    assert "observations.csv row 4: foreign-key" in text and "nowhere" in text
    assert "media.csv row 2 field timestamp: type-error" in text
    assert "datapackage.json: project/samplingDesign: 'random-ish' is not one of" in text
    assert "datapackage.json: (top level): 'temporal' is a required property" in text
    with pytest.raises(CamtrapDPError, match="observations.csv row 3 field observationType"):
        read_package(bad)
    # the CLI refuses it with the same lines and catalogues nothing
    cat = tmp_path / "c.sqlite"
    proc = run_cli("ingest", "--camtrap-dp", bad, "--catalog", cat, "--quiet", check=False)
    assert proc.returncode == 2 and "observations.csv row 3 field observationType" in proc.stderr
    assert not cat.exists() or Catalog(cat).images() == []


@pytest.fixture(scope="module")
def detected(heron, tmp_path_factory):
    """A real `irbis detect` run on the heron burst (fast detector), with its catalog."""
    work = tmp_path_factory.mktemp("heron-detect")
    cat = work / "catalog.sqlite"
    run_cli("detect", heron, "--out", work / "md.json", "--model", "megadetector-lite-fast", "--catalog", cat,
            "--quiet")
    return work / "md.json", cat


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_md_json_carries_each_photos_sha256_and_still_validates(detected, heron):
    md, _ = detected
    assert validate_md_json(md)["errors"] == [] and validate_md_json(md)["warnings"] == []
    images = json.loads(md.read_text())["images"]
    assert len(images) == 10
    for im in images:
        assert im["sha256"] == _sha(heron / im["file"])


def test_export_is_a_valid_package_with_boxes_events_hashes_and_zones(detected, heron, schemas, tmp_path):
    md, cat = detected
    res = json.loads(md.read_text())
    # a person in the first frame: that photo must not be public
    res["images"][0]["detections"].append({"category": "2", "conf": 0.8, "bbox": [0.1, 0.1, 0.2, 0.5]})
    write_results(tmp_path / "md.json", res)
    write_csv(tmp_path / "deps.csv", ["deployment", "latitude", "longitude", "locationName", "featureType"],
              [["camtrapdp_heron", 50.699, 4.013, "pond", "waterSource"]])
    write_csv(tmp_path / "taxa.csv", ["class", "scientificName", "taxonRank"], [["heron", "Ardea cinerea", "species"]])
    out = tmp_path / "pkg"
    proc = run_cli("export", tmp_path / "md.json", "--camtrap-dp", out, "--catalog", cat, "--deployments",
                   tmp_path / "deps.csv", "--timezone", "Europe/Brussels", "--taxonomy", tmp_path / "taxa.csv",
                   "--quiet")
    assert "10 media (1 with people, filePublic false)" in proc.stdout
    assert validate_package(out, schemas) == []                      # the kit's official schemas
    desc = json.loads((out / "datapackage.json").read_text())
    assert desc["profile"].endswith("/1.0.2/camtrap-dp-profile.json")
    assert desc["project"]["observationLevel"] == ["media", "event"]
    assert desc["spatial"] == {"type": "Point", "coordinates": [4.013, 50.699]}
    assert desc["temporal"] == {"start": "2021-04-11", "end": "2021-04-11"}
    dep = read_rows(out / "deployments.csv")
    assert len(dep) == 1 and dep[0]["latitude"] == "50.699" and dep[0]["featureType"] == "waterSource"
    assert dep[0]["deploymentStart"] == "2021-04-11T20:43:09+02:00"    # EXIF time, Brussels summer time
    media = {m["fileName"]: m for m in read_rows(out / "media.csv")}
    assert len(media) == 10
    for name, m in media.items():
        assert json.loads(m["exifData"])["sha256"] == _sha(heron / name)
        assert m["timestamp"].endswith("+02:00")
    first = res["images"][0]["file"]
    assert media[first]["filePublic"] == "false"
    assert sum(m["filePublic"] == "true" for m in media.values()) == 9
    obs = read_rows(out / "observations.csv")
    by_media = {}
    for o in obs:
        assert o["classificationMethod"] == "machine" and o["classifiedBy"].startswith("irbis 0.")
        assert "megadetector-lite-fast" in o["classifiedBy"]
        by_media.setdefault(o["mediaID"], []).append(o)
    for im in res["images"]:
        rows = by_media[media[im["file"]]["mediaID"]]
        if not im["detections"]:
            assert [r["observationType"] for r in rows] == ["blank"]
            continue
        assert sorted((r["observationType"], float(r["bboxX"]), float(r["bboxY"])) for r in rows) == sorted(
            ({"1": "animal", "2": "human"}[d["category"]], d["bbox"][0], d["bbox"][1]) for d in im["detections"])
        assert {r["eventID"] for r in rows} == {im["seq_id"]}
    events = by_media[""]
    assert {e["observationLevel"] for e in events} == {"event"}
    assert {(e["observationType"], e["count"]) for e in events} == {("animal", "1"), ("human", "1")}
    assert events[0]["eventStart"] == "2021-04-11T20:43:09+02:00" and events[0]["eventEnd"].endswith("15+02:00")


def test_roundtrip_of_the_official_example_export_reimport_same_observations(heron, schemas, tmp_path, capsys):
    """Import the kit's package (deployments, media timestamps, observations), export it through
    irbis's MD JSON, re-import: same media times, same coordinates, same boxes and taxa."""
    package = read_package(heron)
    cat_path = tmp_path / "catalog.sqlite"
    with Catalog(cat_path) as cat:
        report = ingest_package(package, cat, progress=False)
        assert report.found == 10 and report.deployments == 1 and report.time_mismatches == 0
        recs = cat.images()
        assert {r.deployment for r in recs} == {"62c200a9"}
        assert [dict(d) for d in cat.deployment_rows()] == [
            {"name": "62c200a9", "clock_offset_s": 0.0, "latitude": 50.699, "longitude": 4.013}]
    files = locate_media(package)
    media = package.media_by_id()
    for r in recs:                                # catalog time == the package's wall-clock timestamp
        mid = next(m for m, f in files.items() if str(f) == r.path)
        assert r.taken_at == media[mid]["timestamp"][:19]
    # machine observations of the local media become MD JSON, then a package again
    shas = {m: _sha(f) for m, f in files.items()}
    results = package_to_results(package, files, heron, shas)
    write_results(tmp_path / "md.json", results)
    assert validate_md_json(tmp_path / "md.json")["errors"] == []
    survey = load_survey(tmp_path / "md.json", cat_path)
    export_camtrap_dp(survey, tmp_path / "out", ExportOptions(timezone="+01:00"))
    assert validate_package(tmp_path / "out", schemas) == []
    again = read_package(tmp_path / "out")
    assert again.deployments["62c200a9"]["latitude"] == "50.699"
    new_media = {m["fileName"]: m for m in again.media}
    old = {media[o["mediaID"]]["fileName"]: o for o in package.observations
           if o["mediaID"] in files and o["observationLevel"] == "media"}
    assert len(old) == 10
    new = {new_media_name: o for o in again.observations if o["observationLevel"] == "media"
           for new_media_name, m in new_media.items() if m["mediaID"] == o["mediaID"]}
    assert new.keys() == old.keys()
    for name, o in old.items():
        n = new[name]
        assert new_media[name]["timestamp"] == media[o["mediaID"]]["timestamp"]
        assert (n["observationType"], n["scientificName"], n["count"]) == (o["observationType"], o["scientificName"],
                                                                           o["count"])
        for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight", "classificationProbability"):
            assert float(n[k]) == pytest.approx(float(o[k]), abs=1e-4), (name, k)
    # and the same labels come back (machine-classified here: the local frames were classified by a model)
    labels = package_labels(again, locate_media(again, heron), methods=("machine",))
    assert set(labels.labels.values()) == {"Ardea"} and len(labels.labels) == 10
    assert package_labels(package, files).labels == {}                 # people classified none of them
    # the same through the command line: labels with the package's eventID as sequence
    code, err = _cli(capsys, "ingest", "--camtrap-dp", heron, "--catalog", tmp_path / "cli.sqlite", "--labels-out",
                     tmp_path / "labels.csv", "--machine-labels", "--quiet")
    assert code == 0, err
    rows = read_rows(tmp_path / "labels.csv")
    assert len(rows) == 10 and {(r["label"], r["sequence"], r["deployment"]) for r in rows} == {
        ("Ardea", "7245a2aa", "62c200a9")}


def test_event_level_observations_by_people_label_the_media_in_their_window(heron, tmp_path):
    pkg = _copy_package(heron, tmp_path / "pkg")
    obs = read_rows(pkg / "observations.csv")
    for o in obs:
        if o["observationID"] == "bb027d7e":                # the heron event of the 10 local frames
            o.update(classificationMethod="human", classifiedBy="a biologist", scientificName="Ardea cinerea")
    with (pkg / "observations.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(obs[0]))
        w.writeheader()
        w.writerows(obs)
    package = read_package(pkg)
    files = locate_media(package, heron)
    assert len(files) == 10
    labels = package_labels(package, files)
    assert set(labels.labels.values()) == {"Ardea cinerea"} and len(labels.labels) == 10
    assert set(labels.sequences.values()) == {"7245a2aa"}


def _cli(capsys, *args) -> tuple[int, str]:
    """The irbis command in this process (faster than a subprocess): (exit code, stderr)."""
    from irbis.cli import main
    capsys.readouterr()
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def test_results_for_other_photos_are_refused_and_nothing_is_written(detected, tmp_path, capsys):
    md, cat = detected
    res = json.loads(md.read_text())
    res["images"][0]["file"], res["images"][0]["sha256"] = "elsewhere/x.jpg", "0" * 64
    res["images"][1]["file"], res["images"][1]["sha256"] = "elsewhere/y.jpg", "1" * 64
    write_results(tmp_path / "other.json", res)
    with pytest.raises(SurveyMismatch, match=r"2 photo\(s\) in the results are not in the catalog.*2 photo\(s\) "
                                             r"of the catalog's folder have no result"):
        load_survey(tmp_path / "other.json", cat)
    proc = _cli(capsys, "export", tmp_path / "other.json", "--camtrap-dp", tmp_path / "pkg", "--catalog", cat)
    assert proc[0] == 2 and "2 photo(s) in the results are not in the catalog" in proc[1]
    assert not (tmp_path / "pkg").exists()
    # renamed photos still match through their SHA-256
    res = json.loads(md.read_text())
    for im in res["images"]:
        im["file"] = "renamed-" + im["file"]
    write_results(tmp_path / "renamed.json", res)
    assert len(load_survey(tmp_path / "renamed.json", cat).photos) == 10
    # no coordinates: refused, nothing written; an earlier package stays as it was
    proc = _cli(capsys, "export", md, "--camtrap-dp", tmp_path / "pkg", "--catalog", cat)
    assert proc[0] == 2 and "have no coordinates" in proc[1] and not (tmp_path / "pkg").exists()
    write_csv(tmp_path / "deps.csv", ["deployment", "latitude", "longitude"], [["camtrapdp_heron", 50.7, 4.0]])
    assert _cli(capsys, "export", md, "--camtrap-dp", tmp_path / "pkg", "--catalog", cat, "--deployments",
                tmp_path / "deps.csv", "--quiet")[0] == 0
    before = {f.name: f.read_bytes() for f in (tmp_path / "pkg").iterdir()}
    proc = _cli(capsys, "export", tmp_path / "other.json", "--camtrap-dp", tmp_path / "pkg", "--catalog", cat,
                "--deployments", tmp_path / "deps.csv")
    assert proc[0] == 2
    assert {f.name: f.read_bytes() for f in (tmp_path / "pkg").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".pkg")] == []
    # a folder with other files is never replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    proc = _cli(capsys, "export", md, "--camtrap-dp", tmp_path / "mine", "--catalog", cat, "--deployments",
                tmp_path / "deps.csv")
    assert proc[0] == 2 and "other files" in proc[1]
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_taxonomy_errors_name_the_line(tmp_path):
    write_csv(tmp_path / "t.csv", ["class", "scientificName", "taxonRank"], [["deer", "Cervidae", "family"],
                                                                            ["fox", "Vulpes vulpes", "specie"]])
    with pytest.raises(ValueError, match="line 3: taxonRank 'specie'"):
        read_taxonomy(tmp_path / "t.csv")


def test_train_from_a_package_with_peoples_labels(kit, tmp_path):
    """Synth photos -> package (irbis export) -> labels marked as people's -> irbis train --camtrap-dp."""
    run_cli("synth", tmp_path / "syn", "--kit", kit, "--seed", "3", "--cameras", "3", "--bursts-per-camera", "6",
            "--size", "256x192", "--empty-fraction", "0.5", "--quiet")
    from irbis.formats.coco_ct import cct_to_results, read_cct
    data = read_cct(tmp_path / "syn" / "cct.json")
    cat = tmp_path / "syn.sqlite"
    run_cli("ingest", "--coco-ct", tmp_path / "syn" / "cct.json", "--catalog", cat, "--quiet")
    write_results(tmp_path / "truth.json", cct_to_results(data))
    write_csv(tmp_path / "deps.csv", ["deployment", "latitude", "longitude"],
              [[f"CAM0{i}", -2.3 - i / 10, 34.8] for i in (1, 2, 3)])
    run_cli("export", tmp_path / "truth.json", "--camtrap-dp", tmp_path / "pkg", "--catalog", cat,
            "--deployments", tmp_path / "deps.csv", "--quiet")
    obs = tmp_path / "pkg" / "observations.csv"
    rows = list(csv.DictReader(obs.open(encoding="utf-8")))
    for r in rows:
        r["classificationMethod"], r["classifiedBy"] = "human", "a field biologist"
    with obs.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    proc = run_cli("train", "--camtrap-dp", tmp_path / "pkg", "--images", tmp_path / "syn", "--out",
                   tmp_path / "m.irbis", "--catalog", tmp_path / "train.sqlite", "--quiet")
    n_photos = len(data.images)
    assert f"{n_photos} labelled photos" in proc.stdout and "blank" in proc.stdout
    assert f"trained on {n_photos} photos" in proc.stdout and (tmp_path / "m.irbis").is_file()
    with Catalog(tmp_path / "train.sqlite") as c:
        assert {d["name"]: d["latitude"] for d in c.deployment_rows()}["CAM02"] == pytest.approx(-2.5)
