"""Ensemble stage: combine per-frame probabilities over each sequence (burst).

Mean per class, except classes in ``geometric`` (by default ``empty``) which take the geometric
mean, as the Hakuna Ma-data winners did: one frame confidently showing an animal should pull
the whole burst away from "empty". Single-label models are renormalised to sum to one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Sequence

import numpy as np

EPS = 1e-6


def ensemble_by_key(keys: Sequence[Hashable], probs: np.ndarray, classes: Sequence[str],
                    geometric: Sequence[str] = ("empty",), normalize: bool = True) -> dict[Any, np.ndarray]:
    """keys: one per row of ``probs`` (rows with key None are left out). Returns key -> probs."""
    rows: dict[Hashable, list[int]] = defaultdict(list)
    for i, k in enumerate(keys):
        if k is not None:
            rows[k].append(i)
    geo = np.array([c in set(geometric) for c in classes])
    out = {}
    for k, idx in rows.items():
        p = probs[idx]
        combined = p.mean(axis=0)
        if geo.any():
            combined[geo] = np.exp(np.log(np.clip(p[:, geo], EPS, 1.0)).mean(axis=0))
        if normalize:
            combined = combined / combined.sum()
        out[k] = combined
    return out
