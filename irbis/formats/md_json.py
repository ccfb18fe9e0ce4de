"""MegaDetector batch output format 1.6 (read by Timelapse, AddaxAI, EcoAssist, ...).

https://lila.science/megadetector-output-format : ``info``, ``detection_categories``,
``images[]`` with ``file`` (relative), ``detections`` [{category, conf, bbox}] where bbox is
normalised [x_min, y_min, width, height] with a top-left origin, or ``failure`` with
``detections`` null; optional ``classification_categories`` and per-detection
``classifications`` [[category id, conf], ...].
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from ..atomic import atomic_write
from ..records import CATEGORY_NAMES

FORMAT_VERSION = "1.6"
DETECTION_CATEGORIES = CATEGORY_NAMES
CONF_DIGITS, BBOX_DIGITS = 3, 4


def match_entry(file: str, entries: dict):
    """The key of ``entries`` (results keyed by file) for photo ``file``: the same relative path, else the
    only one with the same file name (results made from another folder level), else None."""
    if file in entries:
        return file
    name = file.rsplit("/", 1)[-1]
    same = [k for k in entries if k.rsplit("/", 1)[-1] == name]
    return same[0] if len(same) == 1 else None


def clean_detection(det: dict) -> dict:
    """Rounded, clipped, MD-shaped copy of one detection (extra keys kept)."""
    x, y, w, h = (float(v) for v in det["bbox"])
    x, y = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
    w, h = min(max(w, 0.0), 1.0 - x), min(max(h, 0.0), 1.0 - y)
    out = {**det, "category": str(det["category"]), "conf": round(float(det["conf"]), CONF_DIGITS),
           "bbox": [round(v, BBOX_DIGITS) for v in (x, y, w, h)]}
    if det.get("classifications"):
        out["classifications"] = [[str(c), round(float(p), CONF_DIGITS)]
                                  for c, p in sorted(det["classifications"], key=lambda cp: -cp[1])]
    return out


def image_entry(file: str, detections: list[dict] | None, failure: str | None = None, **extra) -> dict:
    """One ``images[]`` entry; ``failure`` wins and nulls the detections."""
    if failure:
        return {"file": file, "failure": str(failure), "detections": None, **extra}
    dets = sorted((clean_detection(d) for d in detections or []), key=lambda d: -d["conf"])
    return {"file": file, "detections": dets, **extra}


def build_results(images: list[dict], detector: str, typical_threshold: float, conservative_threshold: float,
                  classification_categories: dict[str, str] | None = None, classifier: str | None = None,
                  extra_info: dict | None = None) -> dict:
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    info = {
        "format_version": FORMAT_VERSION,
        "detector": detector,
        "detection_completion_time": now,
        "detector_metadata": {
            "megadetector_version": detector,
            "typical_detection_threshold": typical_threshold,
            "conservative_detection_threshold": conservative_threshold,
        },
        **(extra_info or {}),
    }
    results: dict = {"info": info, "detection_categories": dict(DETECTION_CATEGORIES)}
    if classification_categories:
        info["classifier"] = classifier or "irbis"
        info["classification_completion_time"] = now
        results["classification_categories"] = dict(classification_categories)
    results["images"] = sorted(images, key=lambda im: im["file"])
    return results


def write_results(path: str | os.PathLike, results: dict) -> Path:
    """Atomic write (temp file, fsync, rename): readers never see half a file."""
    return atomic_write(path, lambda fh: json.dump(results, fh, indent=1), text=True)


def read_results(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as fh:
        d = json.load(fh)
    if not isinstance(d, dict) or "images" not in d or "info" not in d:
        raise ValueError(f"{path} is not a MegaDetector batch results file")
    return d
