"""Zero-shot species: the backbone's own ImageNet head, restricted to animal classes, as a classifier.

:class:`ZeroShotSpecies` looks like a :class:`~irbis.models.bundle.ModelBundle` to ``irbis run``
and ``irbis predict`` (``classes``, ``layer``, ``backbone()``, ``predict_proba``): features of
EfficientNet-Lite0's ``head`` cut -> the checkpoint's ImageNet-1k softmax -> the 398 animal
classes, renormalised -> summed into species (or the lowest sure taxon) through the committed
table ``irbis/data/imagenet_species.csv``: the 118 dog breeds become one "domestic dog", the
five house-cat classes one "domestic cat". Its ``trust`` says how answers are chosen: the
:class:`~irbis.taxonomy.Rollup` with one threshold for every species and "animal" as the
answer when even the class-level sum is unsure.

Example
-------
>>> zs = ZeroShotSpecies()
>>> zs.classes[:3]
['tench', 'goldfish', 'great white shark']
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..models.registry import BackboneError, BackboneSpec, resolve_backbone
from ..taxonomy import ANIMAL, IMAGENET_TABLE, join_taxonomy, read_imagenet_table
from .imagenet_head import ImageNetHead

NAME = "imagenet-species"
ROLLUP_THRESHOLD = 0.5   # a species answer needs this much probability, else the rollup (chosen on dev)


class ZeroShotSpecies:
    """ImageNet animal classes -> species probabilities, usable where a model bundle is."""

    task = "multiclass"
    layer = "head"
    flip_augment = False

    def __init__(self, backbone: str = "efficientnet-lite0", rollup_threshold: float = ROLLUP_THRESHOLD):
        self.spec = resolve_backbone(backbone)
        if not self.spec.arch.startswith("efficientnet-lite"):
            raise BackboneError(f"{NAME} needs an EfficientNet-Lite backbone (its ImageNet head), not {self.spec.arch}")
        self.backbone_name, self.backbone_arch, self.backbone_digest = self.spec.name, self.spec.arch, self.spec.digest
        self.preprocessing = self.spec.preprocessing.as_dict()
        rows = read_imagenet_table()
        self.imagenet_index = np.array([r.index for r in rows])
        leaves: dict[tuple[str, tuple[str, ...]], int] = {}
        for r in rows:
            leaves.setdefault((r.common_name, r.taxonomy), len(leaves))
        self.classes = [name for name, _ in leaves]
        self.taxonomy = {name: join_taxonomy(tax) for name, tax in leaves}
        if len(self.taxonomy) != len(self.classes):
            raise ValueError(f"{IMAGENET_TABLE}: one common name is used for two different taxonomies")
        self.scientific: dict[str, str] = {}
        for r in rows:
            self.scientific.setdefault(r.common_name, r.scientific_name)
        self._sum = np.zeros((len(rows), len(self.classes)), np.float32)
        for i, r in enumerate(rows):
            self._sum[i, leaves[(r.common_name, r.taxonomy)]] = 1.0
        self.metrics: dict = {"trained_on": "nothing: zero-shot ImageNet-1k head"}
        self.trust = {"thresholds": [rollup_threshold] * len(self.classes), "taxonomy": self.taxonomy,
                      "fallback": ANIMAL}
        self._head: ImageNetHead | None = None

    @property
    def digest(self) -> str:
        """Identity for run journals: backbone weights + the species table."""
        h = hashlib.sha256(self.backbone_digest.encode())
        h.update(IMAGENET_TABLE.read_bytes())
        return h.hexdigest()

    def backbone(self, override: str | None = None) -> BackboneSpec:
        if override and resolve_backbone(override).digest != self.backbone_digest:
            raise BackboneError(f"{NAME} uses the ImageNet head of {self.backbone_name}; other weights differ")
        return self.spec

    def imagenet_probs(self, X: np.ndarray) -> np.ndarray:
        """(N, 1280) head features -> (N, 398) probabilities over the animal classes (renormalised)."""
        if self._head is None:
            self._head = ImageNetHead(self.spec)
        p = self._head.probs(X)[:, self.imagenet_index]
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(N, 1280) head features -> (N, len(classes)) species probabilities (rows sum to 1)."""
        if len(X) == 0:
            return np.zeros((0, len(self.classes)))
        return self.imagenet_probs(X) @ self._sum
