"""Species for the animal boxes of an existing MD JSON (``irbis demo``'s zero-shot step).

No second detection pass: each animal box of ``results.json`` is cropped from its photo as
``irbis run`` crops boxes and classified by a classifier (``imagenet-species`` by default),
answers chosen by :class:`~irbis.decision.LabelPolicy` (rollup, thresholds).
"""

from __future__ import annotations

import os
from pathlib import Path

from .decision import DecisionOptions, LabelPolicy
from .imageio import ImageReadError, open_image
from .records import ANIMAL
from .stages.classify import ClassifierSpec
from .stages.zero_shot import NAME as ZERO_SHOT


def species_for_boxes(md: dict, photos_dir: str | os.PathLike, classifier: str = ZERO_SHOT,
                      min_conf: float = 0.2, runtime: str = "auto") -> dict[str, list[tuple[list, str, float]]]:
    """file -> [(bbox, answer, score)] for its animal boxes at or above ``min_conf``."""
    boxes = ClassifierSpec(str(classifier), runtime=runtime).build()
    policy = LabelPolicy(boxes.bundle, DecisionOptions())
    out: dict[str, list[tuple[list, str, float]]] = {}
    for im in md["images"]:
        dets = [d for d in im.get("detections") or [] if d["category"] == ANIMAL and d["conf"] >= min_conf]
        if not dets:
            continue
        try:
            image = open_image(Path(photos_dir) / im["file"], min_short_side=512)
        except ImageReadError:
            continue
        out[im["file"]] = [(d["bbox"], *policy.label(p)) for d, p in zip(dets, boxes.classify_boxes(image, dets),
                                                                        strict=True)]
    return out
