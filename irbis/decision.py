"""From class probabilities to the answer users see: calibration, geofence, thresholds, rollup.

:class:`LabelPolicy` is built once per run from a classifier (a trained bundle or zero-shot
species) and :class:`DecisionOptions`; ``decide(p, deployment)`` gives (category, score) where
categories are the classifier's classes, then rolled-up taxa, then "animal"/"unknown" (see
:class:`~irbis.taxonomy.Rollup`). Steps, in order:

1. calibration: the bundle's cross-validated temperature (not with ``threshold_mode="off"``);
2. geofence: classes outside the allow-list of the photo's deployment / country are zeroed and
   the rest renormalised (:mod:`irbis.geofence`);
3. thresholds (``threshold_mode="per-class"``): the top class is the answer when it reaches its
   threshold, else the rollup over the bundle's taxonomy, else "unknown". ``"calibrated"`` and
   ``"off"`` answer the top class (an empty allow-list still gives "unknown").
"""

from __future__ import annotations

import numpy as np

from .calibration import apply_temperature
from .geofence import AllowList, apply_mask
from .options import THRESHOLD_MODES, DecisionOptions  # noqa: F401  (re-exported)
from .taxonomy import UNKNOWN, Rollup


class LabelPolicy:
    """Decides one label per probability vector; see the module docstring."""

    def __init__(self, model, options: DecisionOptions | None = None):
        options = options or DecisionOptions()
        trust = dict(getattr(model, "trust", None) or {})
        self.classes = list(model.classes)
        self.options = options
        taxonomy = trust.get("taxonomy") or {}
        self.rollup = Rollup(self.classes, [taxonomy.get(c) for c in self.classes], trust.get("fallback", UNKNOWN))
        mode = options.threshold_mode
        self.temperature = float(trust.get("temperature", 1.0)) if mode != "off" else 1.0
        if mode != "per-class":
            self.thresholds = np.zeros(len(self.classes))
        elif options.min_confidence is not None:
            self.thresholds = np.full(len(self.classes), options.min_confidence)
        else:
            self.thresholds = np.asarray(trust.get("thresholds") or np.zeros(len(self.classes)), float)
        self.use_rollup = mode == "per-class"
        self.allow = (AllowList.read(options.allow_species, self.classes, taxonomy, getattr(model, "scientific", {}))
                      if options.allow_species else None)

    @property
    def categories(self) -> list[str]:
        return self.rollup.categories

    @property
    def descriptions(self) -> list[str]:
        return self.rollup.descriptions

    @property
    def active(self) -> bool:
        """False when it would only ever answer the top class (old bundles, no geofence)."""
        return bool(self.allow is not None or self.temperature != 1.0 or self.thresholds.any()
                    or any(p is not None for p in self.rollup.parts))

    def probabilities(self, p: np.ndarray, deployment: str | None = None) -> np.ndarray:
        """Calibrated, geofenced probabilities over the classes (all zero: nothing allowed)."""
        p = apply_temperature(np.asarray(p, float), self.temperature)
        if self.allow is not None:
            p = apply_mask(p, self.allow.mask(deployment, self.options.country))
        return p

    def decide(self, p: np.ndarray, deployment: str | None = None) -> tuple[int, float]:
        q = self.probabilities(p, deployment)
        return self.rollup.decide(q, self.thresholds, rollup=self.use_rollup)

    def label(self, p: np.ndarray, deployment: str | None = None) -> tuple[str, float]:
        k, score = self.decide(p, deployment)
        return self.categories[k], score

    def md_classifications(self, p: np.ndarray, deployment: str | None = None, top: int = 5) -> list[list]:
        """MD JSON ``classifications``: the decision first, then the next most probable classes."""
        q = self.probabilities(p, deployment)
        k, score = self.rollup.decide(q, self.thresholds, rollup=self.use_rollup)
        out = [[str(k), round(float(score), 6)]]
        for j in np.argsort(-q)[:top]:
            if int(j) != k and q[j] > 0 and len(out) < top:
                out.append([str(int(j)), round(float(q[j]), 6)])
        return out

    def summary(self) -> str:
        parts = [f"threshold mode {self.options.threshold_mode}"]
        if self.temperature != 1.0:
            parts.append(f"temperature {self.temperature:.3g}")
        if self.allow is not None:
            parts.append(f"allow-list {self.allow.source}")
        return ", ".join(parts)


def relabel_rows(header: list[str], rows: list[list], records, probs: np.ndarray, sequence_probs: dict,
                 policy: LabelPolicy) -> None:
    """Rewrite a predictions CSV's ``predicted`` / ``confidence`` (and sequence) columns with the policy's answers."""
    cols = [("predicted", "confidence")]
    if "sequence_predicted" in header:
        cols.append(("sequence_predicted", "sequence_confidence"))
    for row, rec, p in zip(rows, records, probs, strict=True):
        for which, (c_pred, c_conf) in enumerate(cols):
            i, j = header.index(c_pred), header.index(c_conf)
            q = p if which == 0 else sequence_probs.get(rec.sequence_id)
            if not row[i] or q is None:
                continue
            label, score = policy.label(q, rec.deployment)
            row[i], row[j] = label, f"{score:.4f}"
