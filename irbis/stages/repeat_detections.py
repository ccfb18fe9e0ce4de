"""Repeat-detection elimination: boxes that sit in the same place in many frames of one camera
over a long time span (rocks, stumps, fence posts) are false positives.

Per deployment, animal boxes are clustered greedily by IoU with the cluster's first box. A
cluster is a repeat when it appears in at least ``min_images`` images spread over at least
``min_sequences`` sequences and ``min_span_hours``: an animal resting through one burst is not
flagged, a stump seen for a week is. Large boxes (over ``max_box_area`` of the frame) are never
flagged, as in MegaDetector's own repeat-detection tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..geometry import iou
from ..records import ANIMAL


@dataclass(frozen=True)
class RepeatOptions:
    iou: float = 0.9
    min_images: int = 6
    min_sequences: int = 3
    min_span_hours: float = 2.0
    max_box_area: float = 0.2
    min_conf: float = 0.1
    category: str = ANIMAL


def find_repeats(frames: list[dict], options: RepeatOptions = RepeatOptions()) -> set[tuple[int, int]]:
    """frames: dicts with ``deployment``, ``sequence``, ``taken_at`` (ISO or None) and
    ``detections``; returns {(frame index, detection index)} of repeated boxes."""
    by_deployment: dict[str, list[int]] = {}
    for i, f in enumerate(frames):
        by_deployment.setdefault(f.get("deployment") or "", []).append(i)
    flagged: set[tuple[int, int]] = set()
    for indices in by_deployment.values():
        clusters: list[tuple[list[float], list[tuple[int, int]]]] = []
        for i in indices:
            for j, det in enumerate(frames[i].get("detections") or []):
                box = det["bbox"]
                if (str(det.get("category")) != options.category or det["conf"] < options.min_conf
                        or box[2] * box[3] > options.max_box_area):
                    continue
                for rep, members in clusters:
                    if iou(rep, box) >= options.iou:
                        members.append((i, j))
                        break
                else:
                    clusters.append((box, [(i, j)]))
        for _rep, members in clusters:
            images = {i for i, _ in members}
            if len(images) < options.min_images:
                continue
            sequences = {frames[i].get("sequence") for i in images}
            times = sorted(datetime.fromisoformat(frames[i]["taken_at"]) for i in images if frames[i].get("taken_at"))
            span_h = (times[-1] - times[0]).total_seconds() / 3600 if len(times) >= 2 else 0.0
            if len(sequences) >= options.min_sequences and span_h >= options.min_span_hours:
                flagged.update(members)
    return flagged


def drop_repeats(frames: list[dict], options: RepeatOptions = RepeatOptions()) -> int:
    """Remove repeated boxes from ``frames`` in place; returns how many were dropped."""
    flagged = find_repeats(frames, options)
    for i, f in enumerate(frames):
        if f.get("detections"):
            f["detections"] = [d for j, d in enumerate(f["detections"]) if (i, j) not in flagged]
    return len(flagged)
