"""irbis explain: LIME boxes on a real cut-out animal in a real scene, reproducibility, failure
records, unknown classes, detector-box agreement and merging into MegaDetector results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DEMO, run_cli, validate_md_json
from PIL import Image

from irbis.geometry import square_region
from irbis.explain_run import explain_photos
from irbis.stages.explain_photo import centre_crop_view, to_photo_box
from irbis.imageio import Preprocessing
from irbis.stages.classify import ClassifierSpec
from irbis.stages.explain import ExplainError, LimeOptions, box_of, explain
from irbis.stages.repeat_detections import iou
from irbis.train import train

SCENE = DEMO / "test" / "no_animals" / "germany__brandenburgGate.webp"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """animal / no_animal bundle from the bundled demo photos (33 curated photos)."""
    out = tmp_path_factory.mktemp("model") / "demo.irbis"
    train(DEMO / "train" / "labels.csv", out)
    return out


@pytest.fixture(scope="module")
def composite(kit, tmp_path_factory) -> tuple[Path, list[float]]:
    """A real wild-boar cut-out (kit) pasted over a real animal-free scene (bundled); its true box."""
    bg = Image.open(SCENE).convert("RGB")
    s = min(bg.size)
    left, top = (bg.width - s) // 2, (bg.height - s) // 2
    bg = bg.crop((left, top, left + s, top + s)).resize((512, 512))
    cut = Image.open(kit / "cutouts" / "mammals" / "wildboar.png").convert("RGBA")
    cut = cut.crop(cut.getbbox())
    k = 200 / max(cut.size)
    cut = cut.resize((round(cut.width * k), round(cut.height * k)))
    x, y = 150, 180
    bg.paste(cut, (x, y), cut)
    path = tmp_path_factory.mktemp("composite") / "boar_at_gate.jpg"
    bg.save(path, quality=92)
    return path, [x / 512, y / 512, cut.width / 512, cut.height / 512]


def test_lime_box_finds_a_cut_out_animal_in_a_real_scene(model, composite, tmp_path):
    photo, truth = composite
    out = tmp_path / "explained"
    run_cli("explain", model, photo, "--out", out, "--class", "animal", "--samples", "300", "--quiet")
    rec = json.loads((out / "boar_at_gate.json").read_text())
    assert rec["class"] == "animal"
    assert len(rec["weights"]) == rec["superpixels"] > 10
    assert 0.0 < rec["r2"] <= 1.0
    assert iou(rec["bbox"], truth) >= 0.5, (rec["bbox"], truth)
    with Image.open(out / rec["heatmap"]) as im:
        assert im.size == (512, 512)


def test_explanations_are_reproducible_with_a_fixed_seed(model, composite):
    scorer = ClassifierSpec(str(model)).build()
    x = scorer.prepare_image(Image.open(composite[0]).convert("RGB"))
    a = explain(x, scorer, 0, LimeOptions(samples=64, seed=7))
    b = explain(x, scorer, 0, LimeOptions(samples=64, seed=7))
    c = explain(x, scorer, 0, LimeOptions(samples=64, seed=8))
    np.testing.assert_array_equal(a.segments, b.segments)
    np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-9)
    assert a.r2 == pytest.approx(b.r2) and a.box == b.box
    assert not np.allclose(a.weights, c.weights)


def test_a_photo_that_fails_to_decode_is_a_failure_record(model, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    good = DEMO / "test" / "animals" / "crocodile.webp"
    shutil.copy(good, photos / "crocodile.webp")
    data = (DEMO / "test" / "heron_burst").glob("*.JPG").__next__().read_bytes()
    (photos / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (photos / "not_a_photo.jpg").write_bytes(b"this is text, not a JPEG")
    out = tmp_path / "out"
    report = explain_photos(model, [photos], out, LimeOptions(samples=32), progress=False)
    assert set(report.failures) == {"truncated.jpg", "not_a_photo.jpg"}
    assert report.explained_views == 1
    for stem in ("truncated", "not_a_photo"):
        rec = json.loads((out / f"{stem}.json").read_text())
        assert rec["failure"] and "weights" not in rec
        assert not (out / f"{stem}.png").exists()
    assert json.loads((out / "crocodile.json").read_text())["bbox"] is not None


def test_a_class_the_bundle_does_not_know_is_a_clear_error(model, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("explain", model, DEMO / "test" / "animals", "--out", out, "--class", "snow_leopard",
                   check=False)
    assert proc.returncode == 2
    assert "snow_leopard" in proc.stderr and "animal, no_animal" in proc.stderr
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(ExplainError):
        LimeOptions(keep=1.5)


def test_boxes_are_explained_on_their_crops_and_merged_into_valid_md_results(model, composite, tmp_path):
    photo, truth = composite
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(photo, photos / photo.name)
    shutil.copy(SCENE, photos / "empty_gate.webp")
    md = tmp_path / "md.json"
    from irbis.formats.md_json import build_results, image_entry, write_results
    images = [image_entry(photo.name, [{"category": "1", "conf": 0.9, "bbox": truth},
                                       {"category": "1", "conf": 0.05, "bbox": [0.0, 0.0, 0.1, 0.1]}]),
              image_entry("empty_gate.webp", [])]
    write_results(md, build_results(images, "test", 0.2, 0.1))
    out = tmp_path / "out"
    report = explain_photos(model, [photos], out, LimeOptions(samples=64), class_name="animal", boxes=md,
                            merge=md, progress=False)
    rec = json.loads((out / "boar_at_gate.json").read_text())
    assert len(rec["boxes"]) == 1                         # the 0.05 box is below --box-threshold
    box = rec["boxes"][0]
    assert box["detector_bbox"] == pytest.approx(truth, abs=1e-4)
    assert box["needs_review"] == (box["iou"] < 0.5)
    assert report.boxes_checked == 1
    assert "no animal box" in json.loads((out / "empty_gate.json").read_text())["note"]
    assert validate_md_json(md)["errors"] == []
    doc = json.loads(md.read_text())
    lime = [d for im in doc["images"] for d in im["detections"] if d.get("lime")]
    assert 1 <= len(lime) <= 2 and all(d["category"] == "1" for d in lime)
    assert doc["classification_categories"][lime[0]["classifications"][0][0]] == "animal"
    explain_photos(model, [photos], out, LimeOptions(samples=32), class_name="animal", boxes=md, merge=md,
                   progress=False)
    doc = json.loads(md.read_text())
    assert sum(bool(d.get("lime")) for im in doc["images"] for d in im["detections"]) <= 2   # replaced, not added
    assert len(doc["images"]) == 2


def test_boxes_map_back_to_the_photo():
    prep = Preprocessing()
    view = centre_crop_view((1024, 768), prep)   # short side to 256, centre 224: 7/8 of the height
    assert view == pytest.approx((174.2, 48.0, 846.8, 720.0), abs=0.5)
    assert to_photo_box([0, 0, 1, 1], view, (1024, 768)) == pytest.approx([0.1701, 0.0625, 0.6568, 0.875], abs=1e-3)
    left, top, side = square_region((1000, 500), [0.4, 0.4, 0.1, 0.2], margin=0.15)
    assert side == pytest.approx(130) and left == pytest.approx(385) and top == pytest.approx(185)
    seg = np.zeros((10, 10), np.int32)
    seg[2:5, 3:8] = 1
    assert box_of(seg, [1]) == pytest.approx((0.3, 0.2, 0.5, 0.3))
    assert box_of(seg, []) is None


def test_the_full_view_sees_the_whole_frame(model, composite, tmp_path):
    """--view full pads the frame square (grey) so the network sees all of it, edges included."""
    from irbis.records import ImageRecord
    from irbis.stages.explain_photo import ExplainSpec, full_frame_margin
    wide = tmp_path / "wide.jpg"
    Image.open(composite[0]).convert("RGB").resize((1024, 512)).save(wide)
    rec = ImageRecord(0, str(wide), str(tmp_path), "wide.jpg", "", None, None, None, None, None, None)
    for view, covers in (("centre", False), ("full", True)):
        stage = ExplainSpec(ClassifierSpec(str(model)), LimeOptions(samples=16), view=view).build()
        prepared = stage.prepare(rec)[0]
        x, region, _ = prepared.inputs[0]
        assert x.shape == (3, 224, 224)
        box = to_photo_box([0, 0, 1, 1], region, (1024, 512))
        assert (box == pytest.approx([0, 0, 1, 1], abs=2e-3)) is covers, (view, box)
    assert full_frame_margin(Preprocessing()) == pytest.approx((256 / 224 - 1) / 2)


def test_explain_on_spark_writes_what_the_local_engine_writes(model, composite, tmp_path):
    """`irbis explain --engine spark` (a real local[2] session): the same JSON records, a failure
    record for a broken file, heatmaps drawn on the driver from the previews the executors return."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(composite[0], photos / composite[0].name)
    shutil.copy(DEMO / "test" / "animals" / "crocodile.webp", photos / "crocodile.webp")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    outs = {}
    for engine in ("local", "spark"):
        outs[engine] = tmp_path / engine
        run_cli("explain", model, photos, "--out", outs[engine], "--samples", "48", "--class", "animal",
                "--quiet", "--engine", engine, "--spark-master", "local[2]")
    names = sorted(p.name for p in outs["local"].iterdir())
    assert names == sorted(p.name for p in outs["spark"].iterdir())
    assert "broken.json" in names and "broken.png" not in names
    for name in names:
        if name.endswith(".json"):
            a, b = (json.loads((outs[e] / name).read_text()) for e in ("local", "spark"))
            assert a.keys() == b.keys()
            assert a.get("failure") == b.get("failure")
            if "weights" in a:
                np.testing.assert_allclose(a["weights"], b["weights"], atol=1e-5)
                assert a["bbox"] == b["bbox"] and a["class"] == b["class"]
        else:
            with Image.open(outs["local"] / name) as la, Image.open(outs["spark"] / name) as sp:
                assert la.size == sp.size

