"""Featurize stage: pretrained CNN -> pooled feature vector per photo (transfer learning).

``Featurizer.prepare`` decodes and preprocesses one photo (CPU, thread-safe, releases the GIL
in Pillow); ``Featurizer.run`` turns a batch of prepared arrays into features. Engines call
the two halves on different threads (local) or in one partition function (Spark).

Runtimes: ONNX Runtime (default when installed: one intra-op thread per inference thread, the
graph exported once from the torch module and cached under the irbis home) or torch eager.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..config import irbis_home
from ..imageio import DRAFT_FACTOR, PhotoSource, decoded_sha256, load_network_input, network_input, open_image
from ..models.onnx_runtime import RUNTIMES, choose_runtime, open_session, run_per_image  # noqa: F401
from ..models.registry import BackboneError, BackboneSpec, load_module, resolve_backbone
from ..records import ImageRecord
from . import Decoded


class _Cut(torch.nn.Module):
    def __init__(self, module: torch.nn.Module, layer: str):
        super().__init__()
        self.module, self.layer = module, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module.features(x, (self.layer,))[0]


class Featurizer:
    """Pooled features of one cut of a pretrained backbone.

    Parameters
    ----------
    backbone : registry name or ``ARCH:PATH`` (see :mod:`irbis.models.registry`).
    layer : ``head`` (last stage, default) or an earlier cut such as ``stage6`` / ``layer3``.
    runtime : ``auto`` (ONNX Runtime if installed), ``onnx`` or ``torch``.
    threads : intra-op threads per inference call (1 is fastest on small CPUs).

    Example
    -------
    >>> f = Featurizer()                      # EfficientNet-Lite0, 1280-d
    >>> x = f.prepare("photo.jpg")            # list with one (3, 224, 224) array
    >>> f.run(np.stack(x)).shape
    (1, 1280)
    """

    def __init__(self, backbone: str | BackboneSpec = "efficientnet-lite0", layer: str = "head",
                 runtime: str = "auto", threads: int = 1):
        self.spec = backbone if isinstance(backbone, BackboneSpec) else resolve_backbone(backbone)
        dims = self.spec.cut_dims()
        if layer not in dims:
            raise BackboneError(f"layer {layer!r} not in {self.spec.arch}; choose one of {', '.join(dims)}")
        runtime = choose_runtime(runtime)
        self.layer, self.runtime, self.threads = layer, runtime, threads
        self.dim = dims[layer]
        self.prep = self.spec.preprocessing
        self._lock = threading.Lock()
        self._session: Any = None
        self._module: Any = None

    @property
    def id(self) -> str:
        """Identity used in cache keys and model bundles (weights digest + cut)."""
        return f"{self.spec.id}/{self.layer}/draft{DRAFT_FACTOR:g}"

    # -- CPU half ------------------------------------------------------------------------
    def prepare(self, path: PhotoSource, flips: tuple[bool, ...] = (False,)) -> list[np.ndarray]:
        """Decode ``path`` and return one network input per flip; raises ImageReadError."""
        return load_network_input(path, self.prep, flips)

    def prepare_image(self, im, flips: tuple[bool, ...] = (False,)) -> list[np.ndarray]:
        """Like :meth:`prepare` for an RGB PIL image already in memory (e.g. a detector crop)."""
        return [network_input(im, self.prep, flip=f) for f in flips]

    # -- inference half ------------------------------------------------------------------
    def run(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 -> (N, dim) float32."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.runtime == "onnx":
            return run_per_image(self._onnx_session(), batch)
        module = self._torch_module()
        with torch.inference_mode():
            x = torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)
            return module(x).float().numpy()

    def _torch_module(self) -> torch.nn.Module:
        with self._lock:
            if self._module is None:
                torch.set_num_threads(max(1, self.threads))
                self._module = _Cut(load_module(self.spec), self.layer).to(memory_format=torch.channels_last)
            return self._module

    def onnx_path(self) -> Path:
        res = self.prep.crop
        return irbis_home() / "onnx" / f"{self.spec.arch}-{self.spec.digest[:16]}-{self.layer}-{res}.onnx"

    def _onnx_session(self):
        with self._lock:
            if self._session is None:
                self._session = open_session(self.onnx_path(), lambda: _Cut(load_module(self.spec), self.layer),
                                             self.prep.crop, self.threads)
            return self._session


@dataclass(frozen=True)
class FeaturizeSpec:
    """Picklable description of a :class:`FeaturizeStage`."""

    backbone: str | BackboneSpec = "efficientnet-lite0"
    layer: str = "head"
    runtime: str = "auto"
    threads: int = 1
    flips: tuple[bool, ...] = (False,)

    def build(self) -> "FeaturizeStage":
        return FeaturizeStage(self)


@dataclass
class Features:
    """A photo's feature vectors, one row per flip of the stage's ``flips``; ``boxed`` tells, for
    crop features, whether an animal box was found (else the whole photo was used)."""

    vectors: np.ndarray
    boxed: bool | None = None


class FeaturizeStage:
    """The featurize stage: a photo -> its pooled features, one vector per flip."""

    failure_label = "featurizer"

    def __init__(self, spec: FeaturizeSpec, featurizer: Featurizer | None = None):
        self.spec = spec
        self.featurizer = featurizer or Featurizer(spec.backbone, layer=spec.layer, runtime=spec.runtime,
                                                   threads=spec.threads)

    @property
    def id(self) -> str:
        return self.featurizer.id

    def prepare(self, record: ImageRecord) -> Decoded:
        """One network input per flip, decoded from one read of the file (hash included)."""
        f = self.featurizer
        im = open_image(record.source, min_short_side=math.ceil(DRAFT_FACTOR * f.prep.resize_short))
        return Decoded([network_input(im, f.prep, flip=x) for x in self.spec.flips], decoded_sha256(im))

    def run(self, batch: Sequence[list[np.ndarray]]) -> list[Features]:
        return [Features(self.featurizer.run(np.stack(arrays))) for arrays in batch]
