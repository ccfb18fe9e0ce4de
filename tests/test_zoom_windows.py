"""Zoom windows instead of the 1280 px pass (issue 10, lever 6): placement, mapping back, the option off."""

from __future__ import annotations

import pytest
import test_detector as td

from irbis.stages.zoom_windows import pixel_box, plan_windows, tiles, to_photo


def _box(conf, x, y, w, h):
    return {"category": "1", "conf": conf, "bbox": [x, y, w, h]}


def test_windows_are_centred_on_the_best_uncovered_boxes_inside_the_photo():
    dets = [_box(0.6, 0.40, 0.40, 0.10, 0.10),     # centre (0.45, 0.45): window at (0.2, 0.2)
            _box(0.5, 0.42, 0.42, 0.05, 0.05),     # inside that window already: no second one
            _box(0.4, 0.90, 0.02, 0.05, 0.05),     # near the corner: the window moves inside the photo
            _box(0.3, 0.10, 0.10, 0.70, 0.20),     # wider than a window: seen whole at 640 px
            _box(0.2, 0.05, 0.80, 0.05, 0.05),
            _box(0.01, 0.60, 0.80, 0.05, 0.05)]    # below the floor
    assert plan_windows(dets, 5) == [[0.2, 0.2, 0.5, 0.5], [0.5, 0.0, 0.5, 0.5], [0.0, 0.5, 0.5, 0.5]]
    assert len(plan_windows(dets, 2)) == 2
    assert plan_windows(dets[-1:], 3) == []                      # nothing seen: no window
    assert plan_windows(dets, 3, tile=0.6) == tiles(0.6)        # tiles: wherever the boxes are
    assert [[round(v, 6) for v in t] for t in tiles(0.6)] == [[0, 0, 0.6, 0.6], [0.4, 0, 0.6, 0.6], [0, 0.4, 0.6, 0.6],
                                                              [0.4, 0.4, 0.6, 0.6]]
    assert len(tiles(0.5, 3)) == 9 and tiles(0.5, 3)[4] == [0.25, 0.25, 0.5, 0.5]   # 3 x 3: one in the middle


def test_window_boxes_map_back_to_photo_coordinates_and_cut_boxes_go():
    window = [0.5, 0.25, 0.5, 0.5]
    assert pixel_box(window, 2048, 1536) == (1024, 384, 2048, 1152)
    (d,) = to_photo([_box(0.7, 0.2, 0.4, 0.2, 0.1)], window)
    assert d["conf"] == 0.7 and d["bbox"] == pytest.approx([0.6, 0.45, 0.1, 0.05])
    cut_left = _box(0.7, 0.0, 0.4, 0.2, 0.1)       # the window's left side is inside the photo
    at_right = _box(0.7, 0.8, 0.4, 0.2, 0.1)       # its right side is the photo's
    assert [x["bbox"] for x in to_photo([cut_left, at_right], window)] == [pytest.approx([0.9, 0.45, 0.1, 0.05])]


def test_a_zoom_window_finds_what_the_first_pass_finds_in_the_same_pixels(kit):
    # The jaguar frame pasted into the top-right quarter of a photo twice its size: the window on
    # that quarter holds exactly the frame's pixels, so the 640 px network boxes the jaguar there
    # as on the frame itself, and the box maps back into the quarter.
    from PIL import Image

    from irbis.imageio import open_image
    from irbis.stages.detect import DetectMeta
    from irbis.stages.detect_v2 import FusedDetector
    td._weights()
    det = FusedDetector(sizes=(640, 1280), zoom=1)
    frame = open_image(td.JAGUAR, min_short_side=640)
    W, H = frame.size
    photo = Image.new("RGB", (2 * W, 2 * H), (90, 90, 90))
    photo.paste(frame, (W, 0))
    arr, content = det.detectors[0].letterbox(frame)
    (ref, *_) = det.detectors[0].run([arr], [DetectMeta(W, H, content)])[0]
    assert ref["conf"] >= 0.25
    seed = _box(0.3, 0.74, 0.24, 0.02, 0.02)                   # window centred on it: the quarter
    assert plan_windows([seed], 1) == [[0.5, 0.0, 0.5, 0.5]]
    zoomed = det.zoom_dets(photo, [seed])
    x, y, w, h = ref["bbox"]
    assert zoomed[0]["conf"] == pytest.approx(ref["conf"], abs=1e-4)
    assert zoomed[0]["bbox"] == pytest.approx([0.5 + x / 2, y / 2, w / 2, h / 2], abs=1e-4)


def test_option_off_is_the_default_and_a_sure_photo_is_untouched(kit):
    from irbis.stages.detect_v2 import FusedDetector
    td._weights()
    default, zoom = FusedDetector(), FusedDetector(zoom=3)
    assert "zoom" not in default.id and "/zoom3-0.05" in zoom.id
    sure = td.DATA / "photos" / "animals" / "farm_cow.webp"    # scored >= 0.7 at 640 px: no second pass
    assert zoom.detect(sure) == default.detect(sure)
