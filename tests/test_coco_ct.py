"""COCO Camera Traps import and export, on `irbis synth`'s cct.json (real scenes, pasted real cut-outs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, validate_md_json

from irbis.catalog import Catalog
from irbis.formats.coco_ct import CCTError, cct_to_results, read_cct, survey_to_cct
from irbis.formats.md_json import write_results
from irbis.formats.survey import load_survey
from irbis.ingest.coco_ct import cct_labels, ingest_cct, locate_images
from irbis.synth import SynthConfig, build_synth, load_kit


@pytest.fixture(scope="module")
def synth(kit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cct") / "syn"
    build_synth(out, load_kit(kit), SynthConfig(seed=7, cameras=3, bursts_per_camera=6, width=320, height=240,
                                                empty_fraction=0.5), progress=False)
    return out


def test_import_then_export_gives_back_seq_location_datetime_and_pixel_boxes(synth, tmp_path):
    original = json.loads((synth / "cct.json").read_text())
    data = read_cct(synth / "cct.json")
    cat_path = tmp_path / "c.sqlite"
    with Catalog(cat_path) as cat:
        report = ingest_cct(data, cat, progress=False)
        assert report.found == len(original["images"]) and report.time_mismatches == 0
        recs = {r.rel_path: r for r in cat.images()}
    by_file = {im["file_name"]: im for im in original["images"]}
    assert recs.keys() == by_file.keys()                             # names relative to the CCT's folder
    for f, r in recs.items():                                        # location -> deployment, datetime -> time
        assert r.deployment == by_file[f]["location"]
        assert r.taken_at.replace("T", " ") == by_file[f]["datetime"]
    labels = cct_labels(data, locate_images(data))
    assert len(labels.labels) == len(original["images"]) and "empty" in labels.labels.values()
    results = cct_to_results(data)
    write_results(tmp_path / "truth.json", results)
    assert validate_md_json(tmp_path / "truth.json")["errors"] == []
    run_cli("export", tmp_path / "truth.json", "--coco-ct", tmp_path / "out.json", "--catalog", cat_path)
    back = json.loads((tmp_path / "out.json").read_text())
    cats = {c["id"]: c["name"] for c in original["categories"]}
    back_cats = {c["id"]: c["name"] for c in back["categories"]}
    assert back_cats[0] == "empty"
    back_images = {im["file_name"]: im for im in back["images"]}
    assert back_images.keys() == by_file.keys()

    def boxes(d, names, images):
        out = {}
        for a in d["annotations"]:
            f = images[a["image_id"]]["file_name"]
            out.setdefault(f, []).append((names[a["category_id"]], a.get("bbox")))
        return out

    old = boxes(original, cats, {im["id"]: im for im in original["images"]})
    new = boxes(back, back_cats, {im["id"]: im for im in back["images"]})
    n_boxes = 0
    for f, im in by_file.items():
        b = back_images[f]
        assert (b["seq_id"], b["location"], b["datetime"], b["width"], b["height"], b["seq_num_frames"]) == (
            im["seq_id"], im["location"], im["datetime"], im["width"], im["height"], im["seq_num_frames"])
        assert b["frame_num"] == im["frame_num"] - 1                # irbis counts frames from 0, synth from 1
        assert len(b["sha256"]) == 64
        assert [n for n, _ in old[f]] == [n for n, _ in new[f]]
        for (_, ob), (_, nb) in zip(old[f], new[f], strict=True):
            if ob is None:
                assert nb is None
                continue
            n_boxes += 1
            assert nb == pytest.approx(ob, abs=0.1)                 # pixels, within the 4-decimal rounding
    assert n_boxes > 5


def test_bad_cct_files_name_the_entry(tmp_path):
    good = {"images": [{"id": "a", "file_name": "a.jpg", "width": 10, "height": 10, "datetime": "2023-01-01 10:00:00"}],
            "categories": [{"id": 0, "name": "empty"}, {"id": 1, "name": "fox"}],
            "annotations": [{"id": "x", "image_id": "a", "category_id": 1, "bbox": [1, 1, 4, 4]}]}
    cases = [
        (lambda d: d["annotations"].append({"id": "y", "image_id": "nope", "category_id": 1}),
         r"annotations\[1\]: image_id 'nope' is not an image"),
        (lambda d: d["annotations"].append({"id": "y", "image_id": "a", "category_id": 9}),
         r"annotations\[1\]: category_id 9 is not a category"),
        (lambda d: d["images"][0].update(datetime="yesterday"), r"images\[0\]: datetime 'yesterday'"),
        (lambda d: d["annotations"][0].update(bbox=[1, 1, 0, 4]), r"annotations\[0\]: bbox"),
        (lambda d: d.pop("categories"), "missing list 'categories'"),
    ]
    for k, (spoil, message) in enumerate(cases):
        d = json.loads(json.dumps(good))
        spoil(d)
        (tmp_path / f"{k}.json").write_text(json.dumps(d))
        with pytest.raises(CCTError, match=message):
            read_cct(tmp_path / f"{k}.json")
    (tmp_path / "good.json").write_text(json.dumps(good))
    res = cct_to_results(read_cct(tmp_path / "good.json"))
    assert res["images"][0]["detections"][0]["bbox"] == [0.1, 0.1, 0.4, 0.4]
    assert res["classification_categories"] == {"0": "fox"}


def test_survey_export_of_failures_and_people(synth, tmp_path):
    data = read_cct(synth / "cct.json")
    cat_path = tmp_path / "c.sqlite"
    with Catalog(cat_path) as cat:
        ingest_cct(data, cat, progress=False)
    res = cct_to_results(data)
    res["images"][0] = {"file": res["images"][0]["file"], "failure": "truncated", "detections": None}
    res["images"][1]["detections"] = [{"category": "2", "conf": 0.9, "bbox": [0.5, 0.5, 0.25, 0.5]}]
    write_results(tmp_path / "r.json", res)
    cct = survey_to_cct(load_survey(tmp_path / "r.json", cat_path))
    first, second = cct["images"][0], cct["images"][1]
    assert first["failure"] == "truncated" and not [a for a in cct["annotations"] if a["image_id"] == first["id"]]
    names = {c["id"]: c["name"] for c in cct["categories"]}
    [ann] = [a for a in cct["annotations"] if a["image_id"] == second["id"]]
    assert names[ann["category_id"]] == "human" and ann["bbox"] == [160.0, 120.0, 80.0, 120.0]
