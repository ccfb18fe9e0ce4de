"""Name a classifier: a model bundle path from ``irbis train``, or ``imagenet-species`` (zero-shot)."""

from __future__ import annotations

import os

from ..hashing import content_hash
from ..models.bundle import ModelBundle
from .zero_shot import NAME as ZERO_SHOT
from .zero_shot import ZeroShotSpecies

CLASSIFIER_NAMES = (ZERO_SHOT,)


def load_classifier(spec: str | os.PathLike):
    """A bundle, or :class:`ZeroShotSpecies` for ``imagenet-species``; both have ``classes``,
    ``layer``, ``backbone()``, ``predict_proba`` and (optionally) ``trust``."""
    if str(spec) == ZERO_SHOT:
        return ZeroShotSpecies()
    return ModelBundle.load(spec)


def classifier_digest(model, spec: str | os.PathLike) -> str:
    """What identifies the classifier in a run journal."""
    return model.digest if isinstance(model, ZeroShotSpecies) else content_hash(spec)


def classifier_description(model) -> str:
    if isinstance(model, ZeroShotSpecies):
        return f"irbis zero-shot {ZERO_SHOT}: ImageNet-1k head of {model.backbone_arch}, animal classes"
    return f"irbis logistic regression on {model.backbone_arch}/{model.layer}"
