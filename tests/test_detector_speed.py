"""Detector speed levers (issue 10): rectangular canvases, INT8 graph, passes and side detector on demand."""

from __future__ import annotations

import numpy as np
import pytest
import test_detector as td
from PIL import Image

from irbis.stages.detect import DetectMeta, canvas_size, letterbox, postprocess


def test_rect_canvas_is_the_photo_rounded_up_to_the_stride():
    assert canvas_size(2048, 1536, 640) == (640, 640)
    assert canvas_size(2048, 1536, 640, rect=True) == (640, 480)
    assert canvas_size(1536, 2048, 1280, rect=True) == (960, 1280)
    assert canvas_size(1920, 1080, 640, rect=True) == (640, 384)      # 360 rounded up to 32
    assert canvas_size(100, 100, 640, rect=True) == (640, 640)
    im = Image.new("RGB", (400, 200), (10, 200, 30))
    arr, content = letterbox(im, 640, rect=True)
    assert arr.shape == (3, 320, 640) and content == (640, 320) and arr[1].min() == 200


def test_rect_letterbox_maps_boxes_back_to_the_photo():
    # A prediction at pixel (x, y, w, h) of the content area is the same fraction of the photo
    # whatever the canvas below the content: square or rectangular.
    for rect in (False, True):
        _, content = letterbox(Image.new("RGB", (2048, 1536)), 640, rect=rect)
        pred = np.array([[320.0, 240.0, 64.0, 48.0, 0.9, 1.0]], np.float32)  # centre x, y, w, h, obj, cls
        (d,) = postprocess(pred, content, 0.25, 0.45)
        np.testing.assert_allclose(d["bbox"], [0.45, 0.45, 0.1, 0.1], atol=1e-6)


@pytest.fixture(scope="module")
def detectors(kit):
    from irbis.stages.detect import Detector
    td._weights()
    return {k: Detector(640, runtime="onnx", score_threshold=0.1, **kw) for k, kw in
            (("square", {}), ("rect", {"rect": True}), ("int8", {"rect": True, "int8": True}))}


def test_rect_and_int8_graphs_find_the_jaguar_where_the_square_float_graph_does(detectors):
    ref = detectors["square"].detect(td.JAGUAR)
    assert ref and ref[0]["conf"] >= 0.25
    for name in ("rect", "int8"):
        dets = detectors[name].detect(td.JAGUAR)
        assert dets and td._iou(dets[0]["bbox"], ref[0]["bbox"]) >= 0.8, name
        assert abs(dets[0]["conf"] - ref[0]["conf"]) < 0.15, name
    assert list(detectors["int8"].onnx_path().parent.glob("mdlite-yolox-tiny-*x*-int8.onnx"))
    assert "/rect/int8" in detectors["int8"].id


def test_int8_graph_is_quantized_and_finds_the_heron(detectors):
    import onnx

    from irbis.stages.detect_v2 import FusedDetector
    d = detectors["int8"]
    d.detect(td.HERON / "20210531082538-RCNX0031.JPG")      # a 4:3 frame: the 640 x 480 graph
    graph = onnx.load(str(d.onnx_path(640, 480, int8=True)))
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("QuantizeLinear") >= 50 and "Exp" in ops   # convolutions INT8, box decoding float
    fused = FusedDetector(int8=True, rect=True)
    truth = td._heron_truth()
    hits = sum(any(t["category"] == "1" and td._iou(t["bbox"], box) >= 0.5 for t in fused.detect(td.HERON / name))
               for name, box in sorted(truth.items())[:4])
    assert hits >= 3


def test_later_passes_and_side_detector_on_demand_change_nothing(kit):
    from irbis.stages.detect_v2 import FusedDetector
    from irbis.stages.people import PeopleDetector
    td._weights()
    people = PeopleDetector()
    eager = FusedDetector(people=people)
    ahead = FusedDetector(people=people, side_in_prepare=True)
    for path in (td.HERON / "20210531082538-RCNX0031.JPG", td.LANDMARK):
        item, meta = ahead.prepare(path)
        assert len(item) == 1 and meta.side is not None        # 640 px only; 1280 px letterboxed in run
        assert ahead.run([item], [meta])[0] == eager.detect(path)
        assert meta.image is None and meta.side is None


def test_trusted_boxes_skip_the_crop_check(kit):
    from irbis.stages.detect_v2 import FusedDetector
    td._weights()
    checked = FusedDetector(sizes=(640,))
    trusting = FusedDetector(sizes=(640,), trust_conf=0.25)
    # The raw network fires on the amphitheatre's arches; the crop check drops those boxes ...
    assert not [d for d in checked.detect(td.LANDMARK) if d["category"] == "1"]
    # ... unless boxes that sure are trusted without it.
    assert [d for d in trusting.detect(td.LANDMARK) if d["category"] == "1"]
    assert DetectMeta(1, 1, (1, 1)).side is None


def test_registry_defaults_run_the_side_detector_ahead_and_int8_is_a_named_option(kit):
    from irbis.stages.detectors import resolve_detector
    td._weights()
    default, fast = resolve_detector("megadetector-lite"), resolve_detector("megadetector-lite-fast")
    int8, fast8 = resolve_detector("megadetector-lite-int8"), resolve_detector("megadetector-lite-fast-int8")
    assert default.side_in_prepare and fast.side_in_prepare and fast.sizes == (640,)
    assert not any(d.int8 or d.rect for d in default.detectors)      # the float square graphs, as measured
    assert all(d.int8 for d in int8.detectors) and int8.sizes == (640, 1280) and fast8.sizes == (640,)
    assert "/int8" in int8.id and "/int8" not in default.id
