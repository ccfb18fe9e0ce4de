"""The main job's per-photo stage: detect, keep boxes over the threshold, classify animal boxes.

Its result per photo is the list of detections, animal boxes at or above the classification
threshold carrying ``probs`` (their crop's class probabilities) for the burst ensemble that
:mod:`irbis.detection_run` applies once every photo is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..imageio import decoded_sha256
from ..records import ANIMAL, Detection, ImageRecord
from . import Decoded
from .classify import ClassifierSpec, ImageClassifier
from .detectors import DEFAULT_DETECTOR, resolve_detector


@dataclass(frozen=True)
class SurveySpec:
    """Picklable description of a :class:`SurveyStage`."""

    detector: str = DEFAULT_DETECTOR
    runtime: str = "auto"
    threads: int = 1                          # detector inference threads
    threshold: float = 0.2                    # detections below are dropped
    classifier: ClassifierSpec | None = None
    classify_threshold: float | None = None   # animal boxes classified from this conf (None: threshold)
    mask_strips: bool = False                 # info bars filled black before detection (MegadetectorLite detectors)

    def build(self) -> "SurveyStage":
        return SurveyStage(self)


class SurveyStage:
    failure_label = "detector"

    def __init__(self, spec: SurveySpec, classifier: ImageClassifier | None = None):
        self.spec = spec
        self.detector = resolve_detector(spec.detector, runtime=spec.runtime, threads=spec.threads,
                                         mask_strips=spec.mask_strips)
        self.classifier = classifier or (spec.classifier.build() if spec.classifier else None)

    @property
    def id(self) -> str:
        return self.detector.id if self.classifier is None else f"{self.detector.id}|{self.classifier.id}"

    @property
    def classify_threshold(self) -> float:
        s = self.spec
        return s.threshold if s.classify_threshold is None else s.classify_threshold

    def prepare(self, record: ImageRecord):
        item, meta = self.detector.prepare(record.source)
        return Decoded((item, meta, meta.image), decoded_sha256(meta.image))

    def run(self, batch: Sequence) -> list[list[Detection]]:
        out = []
        for item, meta, image in batch:
            dets = [d for d in self.detector.run([item], [meta])[0] if d["conf"] >= self.spec.threshold]
            if self.classifier is not None:
                animals = [d for d in dets if d["category"] == ANIMAL and d["conf"] >= self.classify_threshold]
                for d, p in zip(animals, self.classifier.classify_boxes(image, animals)):
                    d["probs"] = [round(float(v), 6) for v in p]
            out.append(dets)
        return out
