"""Detector crops for classifiers: the same square crop when training (``irbis train --crops``)
and when classifying boxes (``irbis run``), so a species model sees at run time what it learnt on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..geometry import CLASSIFIER_CROP_MARGIN, square_crop
from ..imageio import decoded_sha256
from ..records import ANIMAL, ImageRecord
from . import Decoded
from .detectors import resolve_detector
from .featurize import Features, Featurizer, FeaturizeSpec, FeaturizeStage

CROP_MARGIN = CLASSIFIER_CROP_MARGIN


def classifier_crop(image, bbox: Sequence[float], featurizer: Featurizer, margin: float = CROP_MARGIN):
    """Square crop around a normalised box, sized for the featurizer's resize step."""
    return square_crop(image, bbox, margin, 0.0, featurizer.prep.resize_short)


def best_animal_box(detections: list[dict]) -> dict | None:
    animals = [d for d in detections if d["category"] == ANIMAL]
    return max(animals, key=lambda d: d["conf"]) if animals else None


@dataclass(frozen=True)
class CropFeaturizeSpec:
    """Picklable description of a :class:`CropFeaturizeStage`."""

    featurize: FeaturizeSpec
    detector: str = "megadetector-lite"
    margin: float = CROP_MARGIN

    @property
    def flips(self) -> tuple[bool, ...]:
        return self.featurize.flips

    def build(self) -> "CropFeaturizeStage":
        return CropFeaturizeStage(self)


class CropFeaturizeStage:
    """Features of a photo's most confident animal box (the whole photo when none is found)."""

    failure_label = "crop featurizer"

    def __init__(self, spec: CropFeaturizeSpec):
        self.spec = spec
        self.features = FeaturizeStage(spec.featurize)
        self.detector = resolve_detector(spec.detector, runtime=spec.featurize.runtime)

    @property
    def id(self) -> str:
        return f"{self.features.id}/crop:{self.detector.id}/m{self.spec.margin:g}"

    def prepare(self, record: ImageRecord) -> Decoded:
        item, meta = self.detector.prepare(record.source)
        return Decoded((item, meta), decoded_sha256(meta.image))

    def run(self, batch: Sequence) -> list[Features]:
        out = []
        featurizer = self.features.featurizer
        for item, meta in batch:
            image = meta.image
            best = best_animal_box(self.detector.run([item], [meta])[0])
            crop = image if best is None else classifier_crop(image, best["bbox"], featurizer, self.spec.margin)
            vecs = featurizer.run(np.stack(featurizer.prepare_image(crop, self.spec.featurize.flips)))
            out.append(Features(vecs, boxed=best is not None))
        return out
