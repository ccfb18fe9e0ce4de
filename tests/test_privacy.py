"""--blur-people: person boxes on real tourist photos lose their detail; nothing else changes."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from irbis.privacy import blur_boxes, blur_people, person_boxes, pixel_box

# People in the kit's tourist photos, boxed by looking at them (normalised x, y, w, h).
PEOPLE = {
    "germany__brandenburgGate.webp": [[0.0635, 0.781, 0.0732, 0.159],   # two walkers, left
                                      [0.4219, 0.794, 0.084, 0.117],    # group of three, centre
                                      [0.535, 0.794, 0.046, 0.134]],    # one walker, right
    "france__palaisdesPapes.webp": [[0.405, 0.892, 0.025, 0.096]],      # man with a backpack
}


def detail(a: np.ndarray) -> float:
    """Fine detail (edges, texture, faces): mean absolute difference from a 2-pixel Gaussian blur."""
    im = Image.fromarray(np.ascontiguousarray(a)).convert("L")
    return float(np.abs(np.asarray(im, np.float32) - np.asarray(im.filter(ImageFilter.GaussianBlur(2)),
                                                                    np.float32)).mean())


@pytest.fixture(scope="module", params=sorted(PEOPLE))
def photo(request, kit):
    with Image.open(kit / "photos" / "no_animals" / request.param) as im:
        return request.param, im.convert("RGB")


def test_person_boxes_lose_their_detail(photo):
    name, im = photo
    dets = [{"category": "2", "conf": 0.6, "bbox": b} for b in PEOPLE[name]]
    dets.append({"category": "1", "conf": 0.9, "bbox": [0.0, 0.0, 0.2, 0.2]})  # an animal box stays sharp
    out = blur_people(im, dets)
    before, after = np.asarray(im), np.asarray(out)
    mask = np.zeros(before.shape[:2], bool)
    for b in PEOPLE[name]:
        x0, y0, x1, y1 = pixel_box(b, im.size)
        mask[y0:y1, x0:x1] = True
        d0, d1 = detail(before[y0:y1, x0:x1]), detail(after[y0:y1, x0:x1])
        assert d1 < 0.1 * d0, f"{name} {b}: detail {d0:.1f} -> {d1:.1f}"
        # Beyond softening: at the box's own scale the content moved a lot.
        assert np.abs(before[y0:y1, x0:x1].astype(int) - after[y0:y1, x0:x1]).mean() > 8
    assert np.array_equal(before[~mask], after[~mask])  # everything else untouched, the animal box too


def test_only_confident_people_and_no_copy_without_people(photo):
    _name, im = photo
    assert person_boxes([{"category": "2", "conf": 0.05, "bbox": [0, 0, 1, 1]},
                         {"category": "3", "conf": 0.9, "bbox": [0, 0, 1, 1]}]) == []
    assert blur_people(im, []) is im
    # A box at the border is clipped, not an error.
    assert blur_boxes(im, [[0.95, 0.95, 0.2, 0.2]]).size == im.size


def test_html_thumbnails_blur_people(kit, tmp_path):
    from irbis.report.html_summary import thumbnail_data_uri, write_summary
    path = kit / "photos" / "no_animals" / "germany__brandenburgGate.webp"
    boxes = PEOPLE["germany__brandenburgGate.webp"]

    def decode(uri):
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))
    sharp, blurred = decode(thumbnail_data_uri(path)), decode(thumbnail_data_uri(path, blur=boxes))
    h, w = sharp.shape[:2]
    x0, y0, x1, y1 = pixel_box(boxes[1], (w, h))
    assert detail(blurred[y0:y1, x0:x1]) < 0.5 * detail(sharp[y0:y1, x0:x1])
    page = write_summary(tmp_path / "s.html", "t", "s", [], {"g": [
        {"path": path, "file": "gate", "predicted": "no_animal", "confidence": 0.9, "blur": boxes}]})
    assert thumbnail_data_uri(path, blur=boxes) in page.read_text()


def test_the_person_detector_finds_the_walkers_and_explain_heatmaps_blur_them(kit, tmp_path):
    """`irbis explain --blur-people`: the people YOLOv3-tiny finds lose their detail in the heatmap PNG."""
    from conftest import DEMO
    from irbis.explain_run import explain_photos
    from irbis.stages.explain import LimeOptions
    from irbis.stages.people import PeopleDetector
    from irbis.train import train
    src = kit / "photos" / "no_animals" / "germany__brandenburgGate.webp"
    with Image.open(src) as im:
        people = [d["bbox"] for d in PeopleDetector().detect(im.convert("RGB")) if d["category"] == "2"]
    assert len(people) >= 3          # the walkers boxed by eye above (left, centre, right)
    model = tmp_path / "m.irbis"
    train(DEMO / "train" / "labels.csv", model, flip=False, C=1.0)
    heat = {}
    for blur in (False, True):
        out = tmp_path / f"out-{blur}"
        explain_photos(model, [src], out, LimeOptions(samples=16), progress=False, blur_people=blur)
        heat[blur] = np.asarray(Image.open(out / f"{src.stem}.png").convert("RGB"))
    h, w = heat[False].shape[:2]
    for b in people:
        x0, y0, x1, y1 = pixel_box(b, (w, h))
        assert detail(heat[True][y0:y1, x0:x1]) < 0.5 * detail(heat[False][y0:y1, x0:x1]), b
