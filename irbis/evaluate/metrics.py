"""Metrics for classifiers and detectors on camera-trap frames (pure functions, numpy in, dicts out).

* :func:`classification_metrics`: accuracy, balanced accuracy, per-class precision / recall / F1,
  confusion matrix, log loss, ROC AUC and PR curve (of "not empty" when an empty class exists,
  else of the second class of a binary model; macro one-vs-rest AUC for more classes).
* :func:`aggregated_log_loss`: the Hakuna Ma-data metric, the binary log loss of every
  (sequence, class) cell averaged over all cells: -mean(y log p + (1 - y) log(1 - p)), with p
  clipped to [1e-15, 1 - 1e-15].
* :func:`empty_filter_table`: for each threshold on the "not empty" score, the share of truly
  empty frames filtered out and the share of frames with animals lost with them.
* :func:`detection_metrics`: box precision and recall at IoU >= 0.5 for each confidence threshold
  (greedy matching by confidence, one detection per box), and average precision.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from ..geometry import iou  # noqa: F401  (boxes as [x, y, w, h])
from ..scoring import EPS, aggregated_log_loss, top1_in_set  # noqa: F401

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def positive_score(probs: np.ndarray, classes: Sequence[str], empty_class: str = "empty"):
    """(name, score per row) of the binary question the report's curves answer, or None.

    With an empty class: "not empty" = 1 - p(empty). Else, for two classes: p(second class)."""
    classes = list(classes)
    if empty_class in classes:
        return f"not {empty_class}", 1.0 - probs[:, classes.index(empty_class)]
    if len(classes) == 2:
        return classes[1], probs[:, 1]
    return None


def binary_curves(is_pos: np.ndarray, score: np.ndarray) -> dict:
    """ROC and PR curves (thinned to at most ~200 points) with AUC / AP; NaN when one class is absent."""
    is_pos = np.asarray(is_pos, dtype=bool)
    out: dict = {"n_positive": int(is_pos.sum()), "n_negative": int((~is_pos).sum())}
    if is_pos.all() or not is_pos.any():
        out.update(roc_auc=float("nan"), average_precision=float("nan"),
                   note="ROC / PR need both classes among the evaluated frames")
        return out
    fpr, tpr, _ = roc_curve(is_pos, score)
    prec, rec, _ = precision_recall_curve(is_pos, score)
    out.update(roc_auc=float(roc_auc_score(is_pos, score)),
               average_precision=float(average_precision_score(is_pos, score)),
               roc={"fpr": _thin(fpr), "tpr": _thin(tpr)}, pr={"precision": _thin(prec), "recall": _thin(rec)})
    return out


def _thin(a: np.ndarray, n: int = 200) -> list[float]:
    a = np.asarray(a, dtype=float)
    if len(a) > n:
        a = a[np.unique(np.linspace(0, len(a) - 1, n).round().astype(int))]
    return [round(float(v), 5) for v in a]


def classification_metrics(y_true: Sequence[str], probs: np.ndarray, classes: Sequence[str],
                           empty_class: str = "empty", thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """Single-label metrics of ``probs`` (rows, classes) against ``y_true`` labels."""
    classes = list(classes)
    y: np.ndarray = np.asarray(y_true)
    probs = np.asarray(probs, dtype=float)
    pred = np.array(classes)[probs.argmax(axis=1)]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    with warnings.catch_warnings():     # one class only among the truth: the mean recall is still defined
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y, pred))
    out: dict = {
        "n": int(len(y)),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": balanced,
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                      for i, c in enumerate(classes)},
        "confusion_matrix": {"labels": classes, "rows_true_cols_predicted":
                             confusion_matrix(y, pred, labels=classes).tolist()},
    }
    sums = probs.sum(axis=1)
    if np.allclose(sums, 1.0, atol=1e-2):
        onehot = (y[:, None] == np.array(classes)[None, :]).astype(float)
        out["log_loss"] = float(-np.mean(np.log(np.clip((probs * onehot).sum(axis=1), EPS, 1))))
    present = [c for c in classes if 0 < (y == c).sum() < len(y)]
    out["per_class_roc_auc"] = {c: float(roc_auc_score(y == c, probs[:, classes.index(c)])) for c in present}
    if len(classes) > 2 and present:
        out["macro_roc_auc"] = float(np.mean(list(out["per_class_roc_auc"].values())))
    pos = positive_score(probs, classes, empty_class)
    if pos is not None:
        name, score = pos
        is_pos = y != empty_class if empty_class in classes else y == classes[1]
        out["binary"] = {"positive": name, **binary_curves(is_pos, score)}
        if empty_class in classes:
            out["empty_filter"] = empty_filter_table(~is_pos, score, thresholds)
        out["roc_auc"] = out["binary"]["roc_auc"]
    elif "macro_roc_auc" in out:
        out["roc_auc"] = out["macro_roc_auc"]
    return out


def empty_filter_table(is_empty: np.ndarray, score_not_empty: np.ndarray,
                       thresholds: Sequence[float] = THRESHOLDS) -> list[dict]:
    """Per threshold t: frames with score < t are filtered as empty. Shares of truly empty frames
    filtered, of non-empty frames lost, and of all frames filtered."""
    is_empty = np.asarray(is_empty, dtype=bool)
    score = np.asarray(score_not_empty, dtype=float)
    rows = []
    for t in thresholds:
        filtered = score < t
        rows.append({"threshold": float(t),
                     "empty_filtered": _share(filtered & is_empty, is_empty),
                     "non_empty_lost": _share(filtered & ~is_empty, ~is_empty),
                     "all_filtered": float(filtered.mean()) if len(filtered) else float("nan")})
    return rows


def _share(hit: np.ndarray, of: np.ndarray) -> float:
    n = int(of.sum())
    return float(hit.sum() / n) if n else float("nan")


def multilabel_metrics(Y: np.ndarray, P: np.ndarray, classes: Sequence[str], empty_class: str = "empty") -> dict:
    """Sequence-level (Serengeti) metrics: aggregated log loss, per class, top-1, AUCs."""
    Y = np.asarray(Y, dtype=float)
    P = np.asarray(P, dtype=float)
    classes = list(classes)
    per_class = {c: aggregated_log_loss(Y[:, [k]], P[:, [k]]) for k, c in enumerate(classes)}
    out: dict = {"n": int(len(Y)), "aggregated_log_loss": aggregated_log_loss(Y, P),
           "per_class_log_loss": per_class, "top1_accuracy": top1_in_set(Y, P),
           "per_class_roc_auc": {c: float(roc_auc_score(Y[:, k] > 0.5, P[:, k])) for k, c in enumerate(classes)
                                 if 0 < (Y[:, k] > 0.5).sum() < len(Y)}}
    if empty_class in classes:
        k = classes.index(empty_class)
        is_pos = Y[:, k] < 0.5
        out["binary"] = {"positive": f"not {empty_class}", **binary_curves(is_pos, 1 - P[:, k])}
        out["empty_filter"] = empty_filter_table(~is_pos, 1 - P[:, k])
        out["roc_auc"] = out["binary"]["roc_auc"]
    return out


def match_detections(gt: list, dets: list[tuple[float, list[float]]],
                     iou_threshold: float = 0.5) -> list[tuple[float, bool]]:
    """Greedy by confidence: each detection takes the unmatched box it overlaps most (IoU >= threshold).
    Returns (confidence, is true positive) per detection."""
    used = [False] * len(gt)
    out = []
    for conf, box in sorted(dets, key=lambda d: -d[0]):
        best, best_iou = -1, iou_threshold
        for k, g in enumerate(gt):
            if not used[k]:
                v = iou(box, g)
                if v >= best_iou:
                    best, best_iou = k, v
        if best >= 0:
            used[best] = True
        out.append((conf, best >= 0))
    return out


def detection_metrics(gt: dict[str, list], dets: dict[str, list[tuple[float, list[float]]]],
                      iou_threshold: float = 0.5, thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """Box recall / precision per confidence threshold over the files in ``gt`` (exhaustively boxed)."""
    matched: list[tuple[float, bool]] = []
    n_gt = sum(len(b) for b in gt.values())
    for f, boxes in gt.items():
        matched += match_detections(boxes, dets.get(f, []), iou_threshold)
    conf = np.array([m[0] for m in matched])
    tp = np.array([m[1] for m in matched], dtype=bool)
    rows = []
    for t in thresholds:
        keep = conf >= t if len(conf) else np.zeros(0, bool)
        n_tp, n_det = int((tp & keep).sum()), int(keep.sum())
        rows.append({"threshold": float(t), "recall": n_tp / n_gt if n_gt else float("nan"),
                     "precision": n_tp / n_det if n_det else float("nan"),
                     "true_positives": n_tp, "detections": n_det, "boxes": n_gt})
    order = np.argsort(-conf) if len(conf) else np.zeros(0, int)
    ctp = np.cumsum(tp[order]) if len(order) else np.zeros(0)
    recall = ctp / n_gt if n_gt else ctp
    precision = ctp / np.arange(1, len(ctp) + 1) if len(ctp) else ctp
    ap = float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision)) if n_gt and len(ctp) else float("nan")
    return {"iou_threshold": iou_threshold, "files": len(gt), "boxes": n_gt, "detections": int(len(conf)),
            "average_precision": ap, "by_threshold": rows}
