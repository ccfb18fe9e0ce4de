"""The classify stage: image -> class probabilities with a model bundle from ``irbis train``.

Everything that needs "image -> probabilities" uses this object: ``irbis run`` (each animal box's
square crop), LIME explanations (thousands of masked copies of one photo), and, through the
feature cache, ``irbis predict`` (:meth:`ImageClassifier.predict_features`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..imageio import Preprocessing
from ..models.bundle import ModelBundle
from ..records import ImageRecord
from .classifiers import classifier_digest, load_classifier
from .crops import CROP_MARGIN, classifier_crop
from .featurize import Featurizer, FeaturizeSpec


@dataclass(frozen=True)
class ClassifierSpec:
    """Picklable description of an :class:`ImageClassifier`: the bundle file and how to run it."""

    bundle: str                      # path to the model bundle, or imagenet-species (zero-shot)
    backbone: str | None = None      # local weights for the bundle's backbone (must be the same weights)
    runtime: str = "auto"
    threads: int = 1
    crop_margin: float = CROP_MARGIN

    def build(self) -> "ImageClassifier":
        return ImageClassifier(self)


class ImageClassifier:
    """A model bundle's image -> probabilities, in the two halves of a stage.

    ``prepare(record)`` decodes a photo into the backbone's network input; ``run(batch)`` turns
    network inputs into one probability row per input over :attr:`classes`.
    """

    failure_label = "classifier"

    def __init__(self, spec: ClassifierSpec, bundle: ModelBundle | Any | None = None):
        self.spec = spec
        self.bundle = bundle or load_classifier(spec.bundle)
        self.featurizer = Featurizer(self.bundle.backbone(spec.backbone), layer=self.bundle.layer,
                                     runtime=spec.runtime, threads=spec.threads)
        self._digest: str | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.bundle.classes)

    @property
    def digest(self) -> str:
        """SHA-256 of the bundle file: what a run journal must match to be resumed."""
        if self._digest is None:
            self._digest = classifier_digest(self.bundle, self.spec.bundle)
        return self._digest

    @property
    def id(self) -> str:
        return f"{self.featurizer.id}/bundle:{self.digest[:16]}"

    def featurize_spec(self, flips: tuple[bool, ...] = (False,)) -> FeaturizeSpec:
        """The featurize stage whose (cached) features :meth:`predict_features` takes."""
        return FeaturizeSpec(self.featurizer.spec, self.featurizer.layer, self.spec.runtime, self.spec.threads, flips)

    # -- CPU half ------------------------------------------------------------------------
    def prepare(self, record: ImageRecord) -> np.ndarray:
        return self.featurizer.prepare(record.source)[0]

    def prepare_image(self, image: Image.Image) -> np.ndarray:
        """An upright RGB image in memory -> the backbone's network input (3, H, W)."""
        return self.featurizer.prepare_image(image)[0]

    # -- inference half ------------------------------------------------------------------
    def run(self, batch: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Network inputs (N, 3, H, W) -> probabilities (N, classes)."""
        return self.predict_features(self.featurizer.run(np.stack(list(batch))))

    __call__ = run     # a classifier is the score function LIME perturbs (irbis.stages.explain)

    @property
    def prep(self) -> Preprocessing:
        """The backbone's preprocessing (network input size, normalisation)."""
        return self.featurizer.prep

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        return self.bundle.predict_proba(features)

    def predict_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Both halves for images in memory."""
        if not images:
            return np.zeros((0, len(self.classes)))
        return self.run([self.prepare_image(im) for im in images])

    def classify_boxes(self, image: Image.Image, detections: Sequence[dict]) -> list[np.ndarray]:
        """Probabilities of each box's square crop (as ``irbis train --crops`` cropped them)."""
        crops = [classifier_crop(image, d["bbox"], self.featurizer, self.spec.crop_margin) for d in detections]
        return list(self.predict_images(crops)) if crops else []


def classifier_spec(bundle: str | os.PathLike, runtime: str = "auto", crop_margin: float = CROP_MARGIN,
                    backbone: str | None = None) -> ClassifierSpec:
    return ClassifierSpec(str(bundle), backbone, runtime, 1, crop_margin)
