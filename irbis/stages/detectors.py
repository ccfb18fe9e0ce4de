"""Detector registry: names and local files resolved in one place.

* ``megadetector-lite`` (default): DrivenData's camera-trap YOLOX-tiny at 640 and 1280 px,
  passes fused, each box verified by EfficientNet-Lite0, part boxes merged into their animal,
  plus YOLOv3-tiny COCO for people and vehicles (:mod:`irbis.stages.detect_v2`); offline.
* ``megadetector-lite-fast``: the same at 640 px only; about 4x less animal-detector work,
  misses more small and far animals.
* ``megadetector-lite-int8``, ``megadetector-lite-fast-int8``: the same with the animal network
  quantized to INT8 (:mod:`irbis.models.int8`): the network 2x faster, scores and boxes move; as
  whole detectors only ``-fast-int8`` is faster (README, "Detector speed").
* ``megadetector-lite-v1``, ``megadetector-lite-fast-v1``: the previous defaults (NMS across
  passes, no side detector), for comparison.
* ``megadetector-lite-raw``: the network alone at 640 px, score >= 0.25, no verification (one
  class, "animal"): the published model's behaviour, for comparison.
* ``MDV5A``, ``MDV5B``, ``MDV1000-REDWOOD``, ... or a path to a MegaDetector ``.pt`` file: the
  accurate MegaDetector models through the ``megadetector`` package (weights downloaded by that
  package on first use, so this needs internet once, and its PyTorch/YOLOv5 dependencies).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..imageio import open_image

DEFAULT_DETECTOR = "megadetector-lite"
LITE_NAMES = ("megadetector-lite", "megadetector-lite-fast", "megadetector-lite-int8", "megadetector-lite-fast-int8",
              "megadetector-lite-raw", "megadetector-lite-v1", "megadetector-lite-fast-v1")
# Speed levers of the v2 detectors that cost no accuracy (issue 10; README "Detector speed"): the side
# detector on the engine's decode thread, beside the animal network on the inference thread.
V2_SPEED: dict[str, Any] = {"side_in_prepare": True}
MD_NAMES = ("mdv5a", "mdv5b", "mdv4", "mdv1000-redwood", "mdv1000-cedar", "mdv1000-larch",
            "mdv1000-sorrel", "mdv1000-spruce")


class DetectorError(ValueError):
    """A detector that cannot be loaded; the message says what to install or where to put files."""


class RawDetector:
    """The unverified network behind the same interface as :class:`VerifiedDetector`."""

    def __init__(self, runtime: str = "auto", threads: int = 1):
        from .detect import Detector
        self.detector = Detector(640, score_threshold=0.25, runtime=runtime, threads=threads)

    @property
    def id(self) -> str:
        return self.detector.id

    def prepare(self, path):
        im = open_image(path, min_short_side=640)
        arr, meta = self.detector.prepare_image(im)
        meta.image = im
        return [arr], meta

    def run(self, items, metas):
        import numpy as np
        return self.detector.run(np.stack([it[0] for it in items]), list(metas))


class MegaDetectorAdapter:
    """MegaDetector (v5 / v1000) through the ``megadetector`` package, same interface."""

    def __init__(self, model: str):
        try:
            from megadetector.detection.run_detector import load_detector
        except ImportError as exc:
            raise DetectorError(
                f"detector {model!r} needs the megadetector package with its PyTorch dependencies "
                f"(pip install megadetector; on a machine with internet it downloads the weights on "
                f"first use). Offline, use the default detector 'megadetector-lite'.") from exc
        if model.lower().endswith((".pt", ".pth", ".pb", ".onnx")) and not os.path.isfile(model):
            raise DetectorError(f"MegaDetector weights file not found: {model}")
        try:
            self.model = load_detector(model, force_cpu=True)
        except Exception as exc:  # download refused, yolov5 missing, corrupt file, ...
            raise DetectorError(f"could not load MegaDetector {model!r}: {type(exc).__name__}: {exc}. "
                                f"Give a local weights file (e.g. md_v5a.0.0.pt) or run once with "
                                f"internet so the megadetector package can fetch it.") from exc
        self.name = model

    @property
    def id(self) -> str:
        return f"megadetector:{Path(self.name).name}"

    def prepare(self, path):
        from .detect import DetectMeta
        im = open_image(path)
        return [], DetectMeta(im.width, im.height, im.size, im)

    def run(self, items, metas):
        out = []
        for meta in metas:
            res = self.model.generate_detections_one_image(meta.image, detection_threshold=0.005)
            out.append([{"category": str(d["category"]), "conf": float(d["conf"]), "bbox": list(d["bbox"])}
                        for d in res.get("detections") or []])
            meta.image = None
        return out


def resolve_detector(name: str = DEFAULT_DETECTOR, runtime: str = "auto", threads: int = 1,
                     mask_strips: bool = False):
    """A detector object with ``id``, ``prepare(path) -> (item, meta)`` and ``run(items, metas)``.

    ``meta.image`` holds the decoded upright photo after ``prepare`` (for crops)."""
    from ..models.onnx_runtime import choose_runtime
    from .detect_v2 import FusedDetector
    from .people import PeopleDetector, PeopleDetectorError
    from .verify_boxes import VerifiedDetector
    key = name.lower()
    if key in ("megadetector-lite", "megadetector-lite-fast", "megadetector-lite-int8", "megadetector-lite-fast-int8"):
        try:
            people = PeopleDetector(threads=threads)
        except PeopleDetectorError as exc:
            raise DetectorError(str(exc)) from exc
        int8 = key.endswith("-int8")
        if int8 and choose_runtime(runtime) != "onnx":
            raise DetectorError(f"detector {name!r} needs ONNX Runtime (pip install onnxruntime)")
        sizes = (640,) if "-fast" in key else (640, 1280)
        return FusedDetector(sizes=sizes, runtime=runtime, threads=threads, people=people, mask_strips=mask_strips,
                             int8=int8, **V2_SPEED)
    if key in ("megadetector-lite-v1", "megadetector-lite-fast-v1"):
        return VerifiedDetector(sizes=(640, 1280) if key == "megadetector-lite-v1" else (640,), runtime=runtime,
                                threads=threads, mask_strips=mask_strips)
    if key == "megadetector-lite-raw":
        return RawDetector(runtime=runtime, threads=threads)
    if key in MD_NAMES or key.endswith((".pt", ".pth", ".pb")):
        return MegaDetectorAdapter(name)
    raise DetectorError(f"unknown detector {name!r}; choose one of {', '.join(LITE_NAMES)}, "
                        f"MDV5A, MDV5B, MDV1000-REDWOOD, ... or a MegaDetector .pt file")
