"""Scores that product code needs (model selection in training), not only evaluation."""

from __future__ import annotations

import numpy as np

EPS = 1e-15


def aggregated_log_loss(Y: np.ndarray, P: np.ndarray, eps: float = EPS) -> float:
    """Mean binary log loss over every cell of (items, classes) 0/1 truth ``Y`` and probabilities ``P``."""
    Y = np.asarray(Y, dtype=float)
    P = np.clip(np.asarray(P, dtype=float), eps, 1 - eps)
    if Y.shape != P.shape or Y.size == 0:
        raise ValueError(f"truth {Y.shape} and probabilities {P.shape} must have the same non-empty shape")
    return float(-(Y * np.log(P) + (1 - Y) * np.log(1 - P)).mean())


def top1_in_set(Y: np.ndarray, P: np.ndarray) -> float:
    """Share of rows whose most probable class is one of the true ones (multilabel top-1 accuracy)."""
    Y = np.asarray(Y)
    return float(np.mean(Y[np.arange(len(Y)), np.asarray(P).argmax(axis=1)] > 0.5)) if len(Y) else float("nan")
