"""Animal detector: MegadetectorLite weights, torch vs ONNX, real photos, box verification."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import KIT as DATA

HERON = DATA / "cameratrap" / "dev" / "camtrapdp_heron"
JAGUAR = DATA / "cameratrap" / "dev" / "animl_Jaguar" / "AREAS 27_20051011_0438.jpg"
LANDMARK = DATA / "photos" / "no_animals" / "france__arlesAmphitheater.webp"


@pytest.fixture(autouse=True)
def _needs_kit(kit):
    """Every test here reads the data kit's trap frames (the one place that skips: conftest.kit)."""


def _weights():
    # ./run test installs zamba (requirements-nodeps.txt): missing weights are a failure, not a skip.
    from irbis.models.yolox import megadetector_lite_weights
    return megadetector_lite_weights()


def _iou(a, b) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)


def _heron_truth() -> dict[str, list[float]]:
    with open(HERON / "media.csv", newline="") as fh:
        media = {r["mediaID"]: r["fileName"] for r in csv.DictReader(fh)}
    with open(HERON / "observations.csv", newline="") as fh:
        return {media[r["mediaID"]]: [float(r[k]) for k in ("bboxX", "bboxY", "bboxWidth", "bboxHeight")]
                for r in csv.DictReader(fh)
                if r["bboxX"] and media.get(r["mediaID"]) and (HERON / media[r["mediaID"]]).exists()}


@pytest.fixture(scope="module")
def onnx640():
    from irbis.stages.detect import Detector
    _weights()
    return Detector(640, runtime="onnx", score_threshold=0.1)


@pytest.fixture(scope="module")
def verified():
    from irbis.stages.verify_boxes import VerifiedDetector
    _weights()
    return VerifiedDetector()


def test_weights_load_strictly():
    from irbis.models.yolox import YOLOX, load_megadetector_lite
    ckpt = torch.load(_weights(), map_location="cpu", weights_only=True)["model"]
    model = load_megadetector_lite()  # load_state_dict(strict=True) inside
    assert isinstance(model, YOLOX) and not model.training
    own = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert own == {k for k in ckpt if not k.endswith("num_batches_tracked")}
    bn = model.backbone.backbone.stem.conv.bn
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.03)
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 320, 320))
    assert out.shape == (1, (40 * 40 + 20 * 20 + 10 * 10), 6)


def test_torch_and_onnx_agree(onnx640):
    from irbis.stages.detect import Detector
    path = JAGUAR
    eager = Detector(640, runtime="torch", score_threshold=0.1)
    x, meta = onnx640.prepare(path)
    assert x.shape == (3, 640, 640) and x.dtype == np.float32 and x.max() > 1.0  # 0-255, not normalised
    raw_onnx, raw_torch = onnx640.forward(x[None]), eager.forward(x[None])
    scores = raw_torch[0][:, 4] * raw_torch[0][:, 5]
    top = scores > 0.05
    assert top.any()
    np.testing.assert_allclose(raw_onnx[0][top], raw_torch[0][top], rtol=1e-3, atol=0.05)
    a, b = onnx640.run(x[None], [meta])[0], eager.run(x[None], [meta])[0]
    assert len(a) == len(b) >= 1
    for da, db in zip(a, b):
        assert da["category"] == db["category"] == "1"
        assert da["conf"] == pytest.approx(db["conf"], abs=1e-3)
        np.testing.assert_allclose(da["bbox"], db["bbox"], atol=1e-3)
    assert onnx640.onnx_path().exists()


def test_boxes_follow_exif_orientation(onnx640, tmp_path):
    path = JAGUAR
    upright = onnx640.detect(path)
    assert upright and upright[0]["conf"] >= 0.25
    # The same photo stored rotated, with an EXIF tag saying "rotate 90 degrees clockwise".
    im = Image.open(path)
    exif = im.getexif()
    exif[0x0112] = 6
    rotated = tmp_path / "rotated.jpg"
    im.transpose(Image.Transpose.ROTATE_90).save(rotated, quality=95, exif=exif.tobytes())
    dets = onnx640.detect(rotated)
    assert dets and _iou(dets[0]["bbox"], upright[0]["bbox"]) > 0.8
    for d in dets:
        assert d["conf"] >= 0.1 and all(0.0 <= v <= 1.0 for v in d["bbox"])
        assert d["bbox"][0] + d["bbox"][2] <= 1.0 + 1e-6 and d["bbox"][1] + d["bbox"][3] <= 1.0 + 1e-6
    assert [d["conf"] for d in dets] == sorted((d["conf"] for d in dets), reverse=True)


def test_heron_burst_found_with_remedies(verified):
    truth = _heron_truth()
    assert len(truth) >= 8
    overlaps = 0
    for name, box in truth.items():
        dets = verified.detect(HERON / name)
        animals = [d for d in dets if d["category"] == "1"]
        overlaps += any(_iou(d["bbox"], box) > 0.3 for d in animals)
    assert overlaps >= 0.8 * len(truth), f"only {overlaps}/{len(truth)} heron frames boxed"


def test_animal_free_scene_has_no_animal_box_after_verification(onnx640, verified):
    path = LANDMARK
    raw = onnx640.detect(path)
    assert any(d["conf"] >= 0.25 for d in raw)  # the raw detector fires on the arches ...
    assert not [d for d in verified.detect(path) if d["category"] == "1"]  # ... verification drops them


def test_bad_files_raise_image_read_error(onnx640, verified, tmp_path):
    from irbis.imageio import ImageReadError
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    good = HERON / "20210531082538-RCNX0031.JPG"
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:5000])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for bad in (text, truncated, empty, tmp_path / "missing.jpg"):
        with pytest.raises(ImageReadError):
            onnx640.prepare(bad)
        with pytest.raises(ImageReadError):
            verified.prepare(bad)


def test_square_crop_and_nms_geometry():
    from irbis.models.yolox import nms
    from irbis.stages.detect import letterbox
    from irbis.stages.verify_boxes import merge_detections, square_crop
    im = Image.new("RGB", (400, 200), (10, 200, 30))
    arr, content = letterbox(im, 640)
    assert content == (640, 320) and arr.shape == (3, 640, 640) and arr[0, 400:, :].max() == 0
    crop = square_crop(im, [0.0, 0.0, 0.05, 0.1], margin=0.25, min_crop=0.15, size=224)
    assert crop.size == (224, 224) and crop.getpixel((5, 5)) == (10, 200, 30)  # shifted inside, no grey
    big = square_crop(im, [0.0, 0.0, 1.0, 1.0], margin=0.0, min_crop=0.0, size=224)
    assert big.getpixel((112, 2)) == (127, 127, 127)  # taller than the photo: grey above and below
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
    assert nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.45).tolist() == [0, 2]
    merged = merge_detections([[{"category": "1", "conf": 0.3, "bbox": [0.1, 0.1, 0.2, 0.2]}],
                               [{"category": "1", "conf": 0.6, "bbox": [0.11, 0.1, 0.2, 0.2]}]])
    assert [d["conf"] for d in merged] == [0.6]
