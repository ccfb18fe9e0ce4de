"""Trust for trained models: calibrated probabilities and per-class thresholds, chosen by cross-validation.

Everything here works on the out-of-fold probabilities of ``irbis train``'s grouped C search
(each photo predicted by a model that never saw its sequence or deployment), so nothing is
fitted on a photo's own label:

* **temperature scaling**: one temperature ``T``, ``p -> softmax(log p / T)``, fitted to the
  out-of-fold log loss (for a logistic regression this is exactly rescaling its logits);
* **expected calibration error** (top label, 10 equal-width bins) before and after; "after" is
  cross-fitted: each fold's probabilities are scaled with a ``T`` fitted on the other folds;
* **per-class thresholds** for a precision target: the lowest probability at which the answers
  "class c" reach the target precision out of fold; below it the answer is "unknown" (or the
  rollup). A class that never reaches the target gets threshold 1.0 + its reason.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

ECE_BINS = 10


def apply_temperature(p: np.ndarray, temperature: float) -> np.ndarray:
    """Rescale probabilities (rows) by a temperature; 1.0 leaves them as they are."""
    p = np.asarray(p, dtype=float)
    if temperature == 1.0:
        return p
    logp = np.log(np.clip(p, 1e-12, 1.0)) / temperature
    logp -= logp.max(axis=-1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(axis=-1, keepdims=True)


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))


def fit_temperature(p: np.ndarray, y: np.ndarray) -> float:
    """Temperature in [0.05, 20] minimising the log loss of ``p`` (rows) for labels ``y`` (indices)."""
    if len(y) == 0:
        return 1.0
    res = minimize_scalar(lambda logt: _nll(apply_temperature(p, float(np.exp(logt))), y),
                          bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(res.x))


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over equal-width confidence bins, weighted by size."""
    if len(y) == 0:
        return float("nan")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def cross_fitted_temperature(p: np.ndarray, y: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Each fold's rows scaled by a temperature fitted on the other folds (honest "after" figures)."""
    out = np.array(p, dtype=float)
    for f in np.unique(fold):
        test = fold == f
        if (~test).sum() == 0:
            continue
        out[test] = apply_temperature(p[test], fit_temperature(p[~test], y[~test]))
    return out


def class_thresholds(p: np.ndarray, y: np.ndarray, n_classes: int, target: float) -> tuple[list[float], list[dict]]:
    """Per class, the lowest probability at which "argmax == c and p_c >= t" reaches ``target`` precision.

    Returns thresholds and, per class, what it achieves out of fold: precision, recall (the share of
    the class's photos answered with it), and how many answers the precision rests on."""
    pred, conf = p.argmax(axis=1), p.max(axis=1)
    thresholds, stats = [], []
    for c in range(n_classes):
        mine = pred == c
        support = int((y == c).sum())
        order = np.argsort(-conf[mine])
        hits = (y[mine] == c)[order].astype(float)
        confs = conf[mine][order]
        if len(hits) == 0:
            thresholds.append(1.0)
            stats.append({"precision": float("nan"), "recall": 0.0, "answers": 0,
                          "note": "never the top class out of fold"})
            continue
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        # the largest prefix (lowest threshold) whose precision reaches the target; ties stay together
        ok = [i for i in range(len(hits)) if precision[i] >= target and (i + 1 == len(hits) or confs[i + 1] < confs[i])]
        if not ok:
            thresholds.append(1.0)
            stats.append({"precision": float(precision[0]), "recall": 0.0, "answers": 0,
                          "note": f"target precision {target:g} not reached out of fold"})
            continue
        i = max(ok)
        thresholds.append(float(confs[i]))
        stats.append({"precision": float(precision[i]), "recall": float(hits[:i + 1].sum() / max(support, 1)),
                      "answers": i + 1})
    return thresholds, stats


def fit_trust(oof: np.ndarray, y_idx: np.ndarray, fold: np.ndarray, classes: list[str],
              target_precision: float = 0.95, taxonomy: dict[str, str] | None = None) -> dict:
    """Everything a bundle records for trusted answers, from out-of-fold probabilities."""
    temperature = fit_temperature(oof, y_idx)
    calibrated = apply_temperature(oof, temperature)
    thresholds, stats = class_thresholds(calibrated, y_idx, len(classes), target_precision)
    return {
        "temperature": temperature,
        "ece_before": expected_calibration_error(oof, y_idx),
        "ece_after": expected_calibration_error(cross_fitted_temperature(oof, y_idx, fold), y_idx),
        "target_precision": target_precision,
        "thresholds": thresholds,
        "threshold_stats": dict(zip(map(str, classes), stats, strict=True)),
        "taxonomy": dict(taxonomy or {}),
        "fallback": "unknown",
    }


def trust_from_cv(oof: np.ndarray | None, y: np.ndarray, fold: np.ndarray | None, classes: list[str],
                  target_precision: float, taxonomy: dict[str, str]) -> dict:
    """``irbis train``'s hook: trust from its grouped CV, or only the taxonomy when there was no CV."""
    if oof is None or fold is None:
        return {"taxonomy": dict(taxonomy), "fallback": "unknown"} if taxonomy else {}
    y_idx = np.array([classes.index(c) for c in y])
    return fit_trust(oof, y_idx, fold, classes, target_precision, taxonomy)


def trust_summary(trust: dict) -> str:
    """Lines for ``irbis train``'s summary."""
    if "temperature" not in trust:
        return "calibration: none (no cross-validation); answers are the top class" + (
            ", rolled up by the taxonomy" if trust.get("taxonomy") else "")
    lines = [f"calibration: temperature {trust['temperature']:.3f}; expected calibration error (out of fold) "
             f"{trust['ece_before']:.3f} before, {trust['ece_after']:.3f} after (cross-fitted)",
             f"per-class thresholds for precision {trust['target_precision']:g} (below: "
             f"{'rollup, then ' if trust.get('taxonomy') else ''}unknown):"]
    for c, thr in zip(trust["threshold_stats"], trust["thresholds"], strict=True):
        st = trust["threshold_stats"][c]
        note = f"  ({st['note']})" if st.get("note") else ""
        lines.append(f"  {c:<28} {thr:6.3f}  precision {st['precision']:.3f} recall {st['recall']:.3f} "
                     f"on {st['answers']} answers{note}")
    return "\n".join(lines)
