"""Model bundle: one file holding everything needed to classify photos again.

Backbone (name, architecture, weights digest), layer, preprocessing, the fitted scikit-learn
classifier, classes, task (binary, multiclass, or multilabel: one-vs-rest, one independent
probability per class) and training metrics. Loading against other backbone weights is refused:
features of another network mean nothing to this classifier.

Bundles are pickles: load only bundles you trust.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .. import __version__
from ..atomic import atomic_write
from ..imageio import Preprocessing
from .registry import BackboneError, BackboneSpec, resolve_backbone

FORMAT = "irbis-model"
FORMAT_VERSION = 1


@dataclass
class ModelBundle:
    backbone_name: str
    backbone_arch: str
    backbone_digest: str
    layer: str
    preprocessing: dict
    classes: list[str]
    classifier: Any             # scikit-learn estimator with predict_proba
    task: str = "multiclass"    # binary | multiclass | multilabel (independent per-class probabilities)
    flip_augment: bool = True
    metrics: dict = field(default_factory=dict)
    trust: dict = field(default_factory=dict)   # calibration, per-class thresholds, taxonomy (irbis.calibration)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    irbis_version: str = __version__

    def backbone(self, override: str | None = None) -> BackboneSpec:
        """Resolve the backbone this model was trained on; refuse other weights."""
        spec = resolve_backbone(override or self.backbone_name)
        if spec.arch != self.backbone_arch or spec.digest != self.backbone_digest:
            raise BackboneError(
                f"this model was trained on {self.backbone_arch} features (weights sha256 "
                f"{self.backbone_digest[:12]}…), but {override or self.backbone_name!r} resolves to "
                f"{spec.arch} weights {spec.digest[:12]}…; retrain the model or pass the original "
                f"weights with --backbone {self.backbone_arch}:/path/to/weights")
        if Preprocessing.from_dict(self.preprocessing) != spec.preprocessing:
            raise BackboneError("the backbone's preprocessing differs from the one the model was trained with")
        return spec

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities in the order of ``classes``; rows sum to 1 except for multilabel models."""
        if len(X) == 0:
            return np.zeros((0, len(self.classes)))
        return np.asarray(self.classifier.predict_proba(X))

    def save(self, path: str | os.PathLike) -> None:
        """Atomic write: a crash never leaves half a model behind."""
        payload = {"format": FORMAT, "version": FORMAT_VERSION, "bundle": self}
        atomic_write(path, lambda fh: pickle.dump(payload, fh))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ModelBundle":
        try:
            with open(path, "rb") as fh:
                payload = pickle.load(fh)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise ValueError(f"{path} is not an irbis model bundle ({exc})") from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path} is not an irbis model bundle")
        if payload.get("version", 0) > FORMAT_VERSION:
            raise ValueError(f"{path} was written by a newer irbis (bundle version {payload['version']})")
        return payload["bundle"]
