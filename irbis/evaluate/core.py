"""Score predictions against ground truth: metrics, plots and the HTML report's sections."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..stages.ensemble import ensemble_by_key
from . import plots
from .metrics import (
    THRESHOLDS,
    binary_curves,
    classification_metrics,
    detection_metrics,
    empty_filter_table,
    multilabel_metrics,
)
from .predictions import (
    ClassifierPredictions,
    DetectorPredictions,
    PredictionsError,
    SubmissionPredictions,
    read_predictions,
)
from .report import img, page, table
from .truth import Truth, TruthError, match_files, read_truth


@dataclass
class Evaluation:
    """Metrics (JSON-ready), PNG figures by name and HTML sections."""

    metrics: dict
    data_label: str
    figures: dict[str, bytes] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)

    def html(self) -> str:
        m = self.metrics
        return page("irbis evaluation", self.data_label, self.sections,
                    subtitle=f"predictions {Path(m['predictions']).name} vs {m['truth']}")

    def summary(self) -> str:
        m = self.metrics
        lines = [f"data: {self.data_label}", f"truth: {m['truth']}", f"predictions: {m['predictions']} ({m['kind']})"]
        lines += [f"  note: {n}" for n in m.get("notes", [])]
        for key, name in (("image", "per image"), ("image_sequence_ensemble", "per image, burst ensemble"),
                          ("sequence", "per sequence"), ("frames", "frames from detections")):
            s = m.get(key)
            if not s:
                continue
            parts = [f"n={s['n']}"]
            for k, label in (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"),
                             ("roc_auc", "ROC AUC"), ("aggregated_log_loss", "aggregated log loss"),
                             ("top1_accuracy", "top-1 accuracy")):
                if isinstance(s.get(k), float):
                    parts.append(f"{label} {s[k]:.4f}" if "loss" in k else f"{label} {s[k]:.3f}")
            lines.append(f"{name}: " + ", ".join(parts))
        det = m.get("detection")
        if det:
            at = det.get("at_threshold") or {}
            nan = float("nan")
            lines.append(f"boxes (IoU {det['iou_threshold']:g}, {det['boxes']} boxes in {det['files']} files): "
                         f"recall {at.get('recall', nan):.3f}, precision {at.get('precision', nan):.3f} "
                         f"at conf >= {at.get('threshold', nan):g}; AP {det['average_precision']:.3f}")
        return "\n".join(lines)


def apply_mapping(truth: Truth, mapping: dict[str, str], drop: Sequence[str]) -> int:
    """Rename truth labels (``mapping``) and leave out files whose label is in ``drop``; returns dropped."""
    dropped = [k for k, v in truth.labels.items() if v in set(drop)]
    for k in dropped:
        truth.labels.pop(k)
    for k, v in truth.labels.items():
        truth.labels[k] = mapping.get(v, v)
    return len(dropped)


def evaluate(predictions: str | os.PathLike, truth: str | os.PathLike, truth_format: str = "auto",
             truth_column: str | None = None, mapping: dict[str, str] | None = None, drop: Sequence[str] = (),
             empty_class: str = "empty", iou_threshold: float = 0.5, threshold: float | None = None,
             data_label: str | None = None, det_categories: Sequence[str] = ("animal",)) -> Evaluation:
    """Score ``predictions`` (classifier CSV, MegaDetector JSON or submission) against ``truth``."""
    preds = read_predictions(predictions)
    tr = read_truth(truth, truth_format, truth_column)
    notes = list(tr.notes)
    n_dropped = apply_mapping(tr, mapping or {}, drop)
    if n_dropped:
        notes.append(f"{n_dropped} truth file(s) left out by --drop-class {', '.join(drop)}")
    kind = {ClassifierPredictions: "classifier", DetectorPredictions: "detector",
            SubmissionPredictions: "submission"}[type(preds)]
    ev = Evaluation({"predictions": str(predictions), "truth": tr.describe(), "truth_format": tr.format,
                     "kind": kind, "notes": notes}, data_label or "")
    if not ev.data_label:
        ev.data_label = guess_data_label(tr, getattr(preds, "files", []))
    if isinstance(preds, ClassifierPredictions):
        if tr.labels:
            _image_level(ev, preds, tr, empty_class)
        if tr.seq_labels:
            _sequence_level(ev, _sequence_probs_of(preds), preds.classes, tr, empty_class)
    elif isinstance(preds, SubmissionPredictions):
        if not tr.seq_labels:
            raise TruthError(f"a submission (seq_id + class probabilities) needs sequence labels as truth "
                             f"(seq_id + one-hot columns); {tr.path} is {tr.format}")
        _sequence_level(ev, preds.seq_probs, preds.classes, tr, empty_class)
    else:
        _detector(ev, preds, tr, empty_class, iou_threshold, threshold, det_categories)
    if not any(k in ev.metrics for k in ("image", "sequence", "frames", "detection")):
        raise TruthError(f"nothing to score: {tr.describe()} has no labels that fit {kind} predictions")
    ev.sections.insert(0, ("Inputs", table(["", ""], [["predictions", str(predictions)], ["truth", tr.describe()]]
                                           + [["note", n] for n in notes])))
    return ev


def guess_data_label(tr: Truth, pred_files: list[str]) -> str:
    """Say where the frames come from: proxy data (an ``irbis synth`` folder) or real trap frames."""
    readme = tr.path.resolve().parent / "README.txt"
    try:
        if readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith("PROXY DATA"):
            return f"proxy data built from the kit's real photos (irbis synth output {tr.path.parent.name}/)"
    except OSError:
        pass
    if tr.format == "manifest":
        try:
            matched = sorted(set(match_files(pred_files, list(tr.labels)).values()))
        except TruthError:
            matched = []
        prefix = os.path.commonpath(matched) if matched else ""
        prefix = prefix.split("/")[0] if prefix else "several folders"
        return f"real camera-trap frames, {tr.path.resolve().parent.name}/{prefix}"
    return f"{tr.path} (describe it with --data-label)"


def _matched(files: list[str], tr: Truth, ev: Evaluation) -> dict[str, str]:
    m = match_files(files, list(tr.labels))
    if not m:
        raise TruthError(f"no predicted file matches a file of {tr.path}; e.g. predicted {files[:2]}, truth "
                         f"{list(tr.labels)[:2]}")
    unlabelled = match_files([f for f in files if f not in m], tr.unlabelled) if tr.unlabelled else {}
    if unlabelled:
        ev.metrics["notes"].append(f"{len(unlabelled)} predicted file(s) are listed in the truth without a "
                                   f"{tr.column!r} and are not scored, e.g. {next(iter(unlabelled))}")
    ev.metrics["matched_files"] = len(m)
    ev.metrics["predictions_without_truth"] = len(files) - len(m)
    ev.metrics["truth_without_prediction"] = len(tr.labels) - len(set(m.values()))
    return m


def _check_classes(labels: dict[str, str], classes: list[str], tr: Truth, empty_class: str) -> None:
    unknown: dict[str, list[str]] = {}
    for key, lab in labels.items():
        if lab not in classes:
            unknown.setdefault(lab, []).append(f"{tr.where.get(key, '?')}: {key}")
    if unknown:
        parts = [f"{lab!r} ({len(rows)} row(s): {'; '.join(rows[:3])}{' ...' if len(rows) > 3 else ''})"
                 for lab, rows in sorted(unknown.items())]
        first = sorted(unknown)[0]
        raise TruthError(f"{tr.path}: label(s) not among the predictions' classes ({', '.join(classes)}):\n  "
                         + "\n  ".join(parts) + f"\nrename them with --map {first}=CLASS or leave them out with "
                         f"--drop-class {first}")


def _image_level(ev: Evaluation, preds: ClassifierPredictions, tr: Truth, empty_class: str) -> None:
    m = _matched(preds.files, tr, ev)
    idx = [i for i, f in enumerate(preds.files) if f in m]
    labels = {m[preds.files[i]]: tr.labels[m[preds.files[i]]] for i in idx}
    _check_classes(labels, preds.classes, tr, empty_class)
    failed = [i for i in idx if preds.files[i] in preds.failures]
    ok = [i for i in idx if preds.files[i] not in preds.failures]
    ev.metrics["failed_files"] = len(failed)
    if failed:
        ev.metrics["notes"].append(f"{len(failed)} matched photo(s) failed to decode and are not scored: "
                                   + ", ".join(preds.files[i] for i in failed[:5]))
    y = [tr.labels[m[preds.files[i]]] for i in ok]
    res = classification_metrics(y, preds.probs[ok], preds.classes, empty_class)
    ev.metrics["image"] = res
    series = [("per image", res)]
    with_seq = [i for i in ok if preds.sequences[i] in preds.seq_probs]
    if with_seq:
        ens = classification_metrics([tr.labels[m[preds.files[i]]] for i in with_seq],
                                     np.stack([preds.seq_probs[preds.sequences[i]] for i in with_seq]),
                                     preds.classes, empty_class)
        ev.metrics["image_sequence_ensemble"] = ens
        series.append(("per image, burst ensemble", ens))
    _classification_sections(ev, series, preds.classes)


def _classification_sections(ev: Evaluation, series: list[tuple[str, dict]], classes: list[str]) -> None:
    lab = ev.data_label
    rows = [[name, s["n"], s["accuracy"], s["balanced_accuracy"], s.get("roc_auc"), s.get("log_loss")]
            for name, s in series]
    html = table(["level", "n", "accuracy", "balanced accuracy", "ROC AUC", "log loss"], rows)
    name0, s0 = series[0]
    html += table(["class", "precision", "recall", "F1", "support"],
                  [[c, v["precision"], v["recall"], v["f1"], v["support"]] for c, v in s0["per_class"].items()])
    ev.sections.append(("Classification", html))
    figs = []
    ev.figures["confusion"] = plots.confusion_plot(s0["confusion_matrix"]["rows_true_cols_predicted"], classes,
                                                   f"Confusion matrix ({name0})", lab)
    figs.append(img(ev.figures["confusion"], "confusion matrix, rows = truth"))
    curves = [(n, s["binary"]) for n, s in series if "roc" in s.get("binary", {})]
    if curves:
        pos = curves[0][1]["positive"]
        ev.figures["roc"] = plots.roc_plot([(n, b["roc"]["fpr"], b["roc"]["tpr"], b["roc_auc"]) for n, b in curves],
                                           f"ROC: {pos}", lab)
        ev.figures["pr"] = plots.pr_plot([(n, b["pr"]["recall"], b["pr"]["precision"], b["average_precision"])
                                          for n, b in curves], f"Precision-recall: {pos}", lab)
        figs += [img(ev.figures["roc"], "ROC curve"), img(ev.figures["pr"], "precision-recall curve")]
    filt = [(n, s["empty_filter"]) for n, s in series if s.get("empty_filter")]
    if filt:
        ev.figures["empty_filter"] = plots.empty_filter_plot(filt, data_label=lab)
        figs.append(img(ev.figures["empty_filter"], "empty frames filtered vs animals lost"))
        ev.sections.append(("Filtering empty frames", _filter_table(filt)))
    ev.sections.append(("Plots", f"<div class='plots'>{''.join(figs)}</div>"))


def _filter_table(filt: list[tuple[str, list[dict]]]) -> str:
    header = ["threshold"]
    for n, _ in filt:
        header += [f"{n}: empty filtered", f"{n}: with animal lost", f"{n}: all filtered"]
    rows = []
    for k, r in enumerate(filt[0][1]):
        row = [r["threshold"]]
        for _, f in filt:
            row += [f[k]["empty_filtered"], f[k]["non_empty_lost"], f[k]["all_filtered"]]
        rows.append(row)
    return ("<p class='note'>A frame is filtered as empty when its 'not empty' score is below the threshold.</p>"
            + table(header, rows))


def _sequence_probs_of(preds: ClassifierPredictions) -> dict[str, np.ndarray]:
    if preds.seq_probs:
        return preds.seq_probs
    ok = [i for i, f in enumerate(preds.files) if f not in preds.failures and preds.sequences[i]]
    return ensemble_by_key([preds.sequences[i] for i in ok], preds.probs[ok], preds.classes, normalize=False)


def _sequence_level(ev: Evaluation, seq_probs: dict[str, np.ndarray], classes: list[str], tr: Truth,
                    empty_class: str) -> None:
    missing_cols = [c for c in tr.seq_classes if c not in classes]
    if missing_cols:
        raise PredictionsError(f"the predictions have no probability for class column(s) of {tr.path}: "
                               f"{', '.join(missing_cols[:10])}")
    extra = [c for c in classes if c not in tr.seq_classes]
    if extra:
        ev.metrics["notes"].append(f"prediction classes not in the labels, ignored: {', '.join(extra)}")
    common = [s for s in tr.seq_labels if s in seq_probs]
    if not common:
        raise TruthError(f"no predicted sequence matches a seq_id of {tr.path}; predicted e.g. "
                         f"{list(seq_probs)[:3]} (predict with --serengeti-metadata to use its seq_id)")
    missing = [s for s in tr.seq_labels if s not in seq_probs]
    if missing:
        ev.metrics["notes"].append(f"{len(missing)} labelled sequence(s) have no prediction and are not scored: "
                                   + ", ".join(f"{s} ({tr.seq_where[s]})" for s in missing[:5]))
    col = [classes.index(c) for c in tr.seq_classes]
    Y = np.array([tr.seq_labels[s] for s in common]) >= 0.5
    P = np.stack([seq_probs[s][col] for s in common])
    res = multilabel_metrics(Y.astype(float), P, tr.seq_classes, empty_class)
    ev.metrics["sequence"] = res
    lab = ev.data_label
    html = table(["sequences", "aggregated log loss", "top-1 accuracy", "ROC AUC (not empty)"],
                 [[res["n"], res["aggregated_log_loss"], res["top1_accuracy"], res.get("roc_auc")]], digits=4)
    html += ("<p class='note'>Aggregated log loss (Hakuna Ma-data): mean over every (sequence, class) cell of "
             "-[y log p + (1-y) log(1-p)], p clipped to [1e-15, 1-1e-15].</p>")
    html += table(["class", "log loss", "ROC AUC", "sequences with it"],
                  [[c, res["per_class_log_loss"][c], res["per_class_roc_auc"].get(c), int(Y[:, k].sum())]
                   for k, c in enumerate(tr.seq_classes)], digits=4)
    ev.sections.append(("Per sequence (Serengeti metric)", html))
    ev.figures["sequence_log_loss"] = plots.bar_plot(res["per_class_log_loss"], "Log loss per class (sequences)",
                                                     "mean binary log loss", lab)
    figs = [img(ev.figures["sequence_log_loss"], "per-class log loss")]
    b = res.get("binary", {})
    if "roc" in b:
        ev.figures["sequence_roc"] = plots.roc_plot([("per sequence", b["roc"]["fpr"], b["roc"]["tpr"],
                                                      b["roc_auc"])], f"ROC: {b['positive']}", lab)
        figs.append(img(ev.figures["sequence_roc"], "ROC per sequence"))
    ev.sections.append(("Sequence plots", f"<div class='plots'>{''.join(figs)}</div>"))


def _detector(ev: Evaluation, preds: DetectorPredictions, tr: Truth, empty_class: str, iou_threshold: float,
              threshold: float | None, det_categories: Sequence[str]) -> None:
    t_use = threshold if threshold is not None else (preds.typical_threshold or 0.2)
    thresholds = sorted(set(THRESHOLDS) | {float(t_use)})
    lab = ev.data_label
    figs, html = [], ""
    if tr.labels:
        m = _matched(preds.files, tr, ev)
        ok = [f for f in preds.files if f in m and f not in preds.failures]
        ev.metrics["failed_files"] = sum(f in preds.failures for f in preds.files if f in m)
        is_empty = np.array([tr.labels[m[f]] == empty_class for f in ok])
        score = np.array([max((d[1] for d in preds.detections[f]), default=0.0) for f in ok])
        frames = {"n": len(ok), "positive": f"not {empty_class}", "threshold": t_use,
                  "accuracy": float(np.mean((score >= t_use) == ~is_empty)) if ok else float("nan"),
                  **binary_curves(~is_empty, score), "empty_filter": empty_filter_table(is_empty, score, thresholds)}
        recalls = [np.mean(score[is_empty] < t_use) if is_empty.any() else np.nan,
                   np.mean(score[~is_empty] >= t_use) if (~is_empty).any() else np.nan]
        frames["balanced_accuracy"] = float(np.nanmean(recalls))
        ev.metrics["frames"] = frames
        html += table(["frames", "empty", "accuracy at threshold", "balanced accuracy", "threshold", "ROC AUC"],
                      [[len(ok), int(is_empty.sum()), frames["accuracy"], frames["balanced_accuracy"], t_use,
                        frames["roc_auc"]]])
        html += _filter_table([("detector", frames["empty_filter"])])
        ev.figures["empty_filter"] = plots.empty_filter_plot([("detector", frames["empty_filter"])], data_label=lab)
        figs.append(img(ev.figures["empty_filter"], "empty frames filtered vs animals lost"))
        if "roc" in frames:
            ev.figures["roc"] = plots.roc_plot([("max detection confidence", frames["roc"]["fpr"],
                                                 frames["roc"]["tpr"], frames["roc_auc"])], "ROC: not empty", lab)
            figs.append(img(ev.figures["roc"], "frame-level ROC from detections"))
    if tr.boxes:
        m = match_files(preds.files, list(tr.boxes))
        gt = {f: tr.boxes[m[f]] for f in preds.files if f in m and f not in preds.failures}
        if gt:
            dets = {f: [(c, b) for name, c, b in preds.detections[f] if name in set(det_categories)] for f in gt}
            det = detection_metrics(gt, dets, iou_threshold, thresholds)
            det["categories"] = list(det_categories)
            ev.metrics["notes"] += tr.box_sources
            det["at_threshold"] = next(r for r in det["by_threshold"] if r["threshold"] == float(t_use))
            ev.metrics["detection"] = det
            html += table(["threshold", "recall", "precision", "true positives", "detections", "boxes"],
                          [[r["threshold"], r["recall"], r["precision"], r["true_positives"], r["detections"],
                            r["boxes"]] for r in det["by_threshold"]])
            ev.figures["detection"] = plots.detection_plot(det["by_threshold"], iou_threshold, data_label=lab)
            figs.append(img(ev.figures["detection"], "box recall and precision vs threshold"))
    ev.sections.append(("Detector", html))
    ev.sections.append(("Detector plots", f"<div class='plots'>{''.join(figs)}</div>"))
