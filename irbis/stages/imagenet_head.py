"""The ImageNet-1k head of an EfficientNet-Lite backbone: pooled ``head`` features -> 1000 probabilities.

One copy of this logic serves box verification (:mod:`irbis.stages.verify_boxes`) and zero-shot
species (:mod:`irbis.stages.zero_shot`): both featurize at the ``head`` cut and apply the
checkpoint's own ``_fc`` layer, so features cached for training serve zero-shot too.
"""

from __future__ import annotations

import numpy as np

from ..models.registry import BackboneSpec, load_module


class ImageNetHead:
    """``probs(features)``: (N, 1280) ``head`` features -> (N, 1000) softmax probabilities."""

    def __init__(self, spec: BackboneSpec):
        if not spec.arch.startswith("efficientnet-lite"):
            raise ValueError(f"the ImageNet head needs an EfficientNet-Lite backbone, not {spec.arch}")
        fc = load_module(spec)._fc
        self.weight = fc.weight.detach().numpy().T.astype(np.float32).copy()
        self.bias = fc.bias.detach().numpy().astype(np.float32).copy()

    @property
    def n_classes(self) -> int:
        return len(self.bias)

    def probs(self, features: np.ndarray) -> np.ndarray:
        if len(features) == 0:
            return np.zeros((0, self.n_classes), np.float32)
        logits = np.asarray(features, np.float32) @ self.weight + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)
