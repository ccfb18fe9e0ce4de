"""Multilabel models from Serengeti-style data: sequence labels, photo metadata, submissions.

Training (``irbis train train_labels.csv --serengeti-metadata train_metadata.csv --out M``): every
photo inherits its sequence's one-hot labels; the classifier is one-vs-rest logistic regression
on standardised features, one independent probability per class (no class weights: the metric,
aggregated log loss, rewards calibrated probabilities; see :class:`MultilabelLogistic`). C is
chosen by cross-validation grouped by location (3 or more) else by sequence, scored like Hakuna
Ma-data: out-of-fold photo probabilities are ensembled per sequence (mean; geometric mean for
``empty``; not renormalised) and compared with the sequence labels by aggregated log loss.

Prediction with metadata (``irbis predict M ROOT --serengeti-metadata test_metadata.csv
--submission OUT.csv``): the photos and sequences are the metadata's; the submission has one row
per sequence in the metadata's order, ``seq_id`` + one probability per class.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .catalog import Catalog
from .config import default_catalog_path
from .decision import LabelPolicy
from .engines import Engine, get_engine
from .ingest import ingest_folder
from .labels import LabelsError
from .models.bundle import ModelBundle
from .options import DecisionOptions
from .predict import PredictReport, classify_records, write_predictions
from .progress import Listener
from .records import ImageRecord
from .scoring import aggregated_log_loss, top1_in_set
from .serengeti import Metadata, read_metadata, read_sequence_labels, write_submission
from .stages.augment import stack_views, training_flips
from .stages.classify import ClassifierSpec
from .stages.ensemble import ensemble_by_key
from .stages.featurize import FeaturizeSpec
from .train import BLAS_THREADS, TrainReport, featurize_files

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


class MultilabelLogistic:
    """Standardise, then one logistic regression per class: independent probabilities.

    A class whose label is the same for every training row (never or always present) cannot be
    fitted; it gets its Laplace-smoothed frequency (positives + 0.5) / (rows + 1) instead of a hard
    0 or 1, so one unseen species costs a bounded log loss rather than an infinite one.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 3000):
        self.C, self.max_iter = C, max_iter

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "MultilabelLogistic":
        Y = np.asarray(Y)
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        self.models_: list = []
        for k in range(Y.shape[1]):
            pos = int(Y[:, k].sum())
            if 0 < pos < len(Y):
                self.models_.append(LogisticRegression(C=self.C, max_iter=self.max_iter).fit(Xs, Y[:, k]))
            else:
                self.models_.append(float((pos + 0.5) / (len(Y) + 1)))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        Xs = self.scaler_.transform(X)
        return np.column_stack([m.predict_proba(Xs)[:, 1] if isinstance(m, LogisticRegression)
                                else np.full(len(Xs), m) for m in self.models_])


def make_multilabel_classifier(C: float) -> MultilabelLogistic:
    return MultilabelLogistic(C=C)


def _fit(clf, X: np.ndarray, Y: np.ndarray):
    with warnings.catch_warnings(), threadpool_limits(BLAS_THREADS):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y)
    return clf


def sequence_probs(seqs: list[str], probs: np.ndarray, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """Per-sequence ensemble of photo probabilities (mean; geometric mean for ``empty``)."""
    ens = ensemble_by_key(seqs, probs, classes, normalize=False)
    order = list(dict.fromkeys(seqs))
    return order, np.stack([ens[s] for s in order])


def cross_validate_multilabel(views: list[np.ndarray], Y: np.ndarray, groups: np.ndarray, seqs: list[str],
                              seq_truth: dict[str, np.ndarray], classes: list[str], C_grid=C_GRID,
                              max_folds: int = 5) -> dict:
    """Grouped CV over ``C_grid`` scored by sequence-level aggregated log loss (lower is better)."""
    folds = min(max_folds, len(set(groups)))
    if folds < 2:
        return {"cv_skipped": "needs photos from at least 2 groups (sequences or locations)"}
    splits = list(GroupKFold(n_splits=folds).split(views[0], groups=groups))
    best: tuple | None = None
    for C in C_grid:
        oof = np.zeros(Y.shape)
        for tr, te in splits:
            Xt, Yt = stack_views([v[tr] for v in views], Y[tr])
            oof[te] = _fit(make_multilabel_classifier(C), Xt, Yt).predict_proba(views[0][te])
        order, P = sequence_probs(seqs, oof, classes)
        T = np.stack([seq_truth[s] for s in order])
        loss = aggregated_log_loss(T, P)
        if best is None or loss < best[0]:
            best = (loss, C, P, T)
    assert best is not None
    loss, C, P, T = best
    prior = np.zeros_like(T)
    for tr, te in splits:      # baseline: each fold's training class frequencies, per sequence
        tr_seqs = {seqs[i] for i in tr}
        freq = np.mean([seq_truth[s] for s in tr_seqs], axis=0)
        te_seqs = {seqs[i] for i in te}
        for k, s in enumerate(order):
            if s in te_seqs:
                prior[k] = freq
    per_class = {c: aggregated_log_loss(T[:, [k]], P[:, [k]]) for k, c in enumerate(classes)}
    return {"C": C, "cv_folds": folds, "cv_aggregated_log_loss": float(loss),
            "cv_prior_log_loss": float(aggregated_log_loss(T, prior)),
            "cv_top1_accuracy": float(top1_in_set(T, P)), "cv_per_class_log_loss": per_class,
            "cv_sequences": len(order)}


def train_multilabel(labels_csv: str | os.PathLike, metadata_csv: str | os.PathLike, out: str | os.PathLike,
                     images_root: str | os.PathLike | None = None, backbone: str = "efficientnet-lite0",
                     layer: str = "head", flip: bool = True, catalog_path: str | os.PathLike | None = None,
                     runtime: str = "auto", listener: Listener | None = None, C: float | None = None,
                     decode_threads: int = 1, engine: Engine | None = None) -> TrainReport:
    """Train a multilabel bundle from Serengeti ``*_labels.csv`` + ``*_metadata.csv``."""
    seq = read_sequence_labels(labels_csv)
    meta = read_metadata(metadata_csv)
    if len(seq.classes) < 2:
        raise LabelsError(f"{labels_csv}: needs at least two class columns, found {seq.classes}")
    root = Path(images_root) if images_root else Path(metadata_csv).resolve().parent
    if not root.is_dir():
        raise LabelsError(f"image root is not a folder: {root}")
    row_of = {s: i for i, s in enumerate(seq.seq_ids)}
    paths, frame_seq, frame_loc, errors = [], [], [], []
    for f, s, loc, line in zip(meta.files, meta.seq_ids, meta.locations, meta.lines):
        if s not in row_of:
            errors.append(f"line {line}: seq_id {s!r} has no row in {Path(labels_csv).name}")
            continue
        p = (root / f).resolve()
        if not p.is_file():
            errors.append(f"line {line}: file not found: {f} (below {root})")
            continue
        paths.append(p)
        frame_seq.append(s)
        frame_loc.append(loc)
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise LabelsError(f"{metadata_csv}: {len(errors)} bad row(s){more}:\n  " + "\n  ".join(errors[:10]))
    flips = training_flips(flip)
    stage = FeaturizeSpec(backbone, layer, runtime, 1, flips).build()
    featurizer = stage.featurizer
    records, table = featurize_files(paths, stage, catalog_path, engine or get_engine(decode_threads=decode_threads),
                                     listener)
    keep = [i for i, rec in enumerate(records) if rec.id not in table.failures]
    skipped = {str(records[i].rel_path): table.failures[records[i].id]
               for i in range(len(records)) if records[i].id in table.failures}
    if not keep:
        raise LabelsError(f"{metadata_csv}: no readable photos")
    seqs = [frame_seq[i] for i in keep]
    Y = (seq.values[[row_of[s] for s in seqs]] >= 0.5).astype(int)
    views = [np.stack([table.features[(records[i].id, f)] for i in keep]) for f in flips]
    locs = [frame_loc[i] for i in keep]
    if all(locs) and len(set(locs)) >= 3:
        groups, group_kind = np.array(locs), "location"
    else:
        groups, group_kind = np.array(seqs), "sequence"
    seq_truth = {s: (seq.values[row_of[s]] >= 0.5).astype(float) for s in set(seqs)}
    if C is None:
        metrics = cross_validate_multilabel(views, Y, groups, seqs, seq_truth, seq.classes)
        metrics.setdefault("C", 1.0)
        if "cv_folds" in metrics:
            metrics["cv_groups"] = group_kind
    else:
        metrics = {"C": C, "cv_skipped": "C given by the user"}
    X_all, Y_all = stack_views(views, Y)
    clf = _fit(make_multilabel_classifier(metrics["C"]), X_all, Y_all)
    order, P = sequence_probs(seqs, clf.predict_proba(views[0]), seq.classes)
    metrics["train_aggregated_log_loss"] = aggregated_log_loss(np.stack([seq_truth[s] for s in order]), P)
    metrics["class_prior"] = dict(zip(seq.classes, map(float, seq.values.mean(axis=0))))
    metrics["class_counts"] = dict(zip(seq.classes, map(int, (seq.values >= 0.5).sum(axis=0))))
    metrics["n_photos"], metrics["n_sequences"] = len(keep), len(set(seqs))
    metrics["sequences_without_photos"] = len(set(seq.seq_ids) - set(frame_seq))
    bundle = ModelBundle(
        backbone_name=featurizer.spec.name, backbone_arch=featurizer.spec.arch,
        backbone_digest=featurizer.spec.digest, layer=layer, preprocessing=featurizer.prep.as_dict(),
        classes=list(seq.classes), classifier=clf, task="multilabel", flip_augment=flip, metrics=metrics)
    bundle.save(out)
    absent = [c for c, n in metrics["class_counts"].items() if n == 0]
    if absent:
        print(f"warning: classes without any labelled sequence get a small constant probability: {absent}",
              file=sys.stderr)
    return TrainReport(str(out), list(seq.classes), len(keep), len(X_all), metrics, skipped)


def metadata_records(metadata: Metadata, photos_dir: str | os.PathLike,
                     catalog_path: str | os.PathLike | None = None, progress: bool = True) -> list[ImageRecord]:
    """Catalogue the metadata's photos below ``photos_dir``; one record per metadata row, in its order,
    with the metadata's ``seq_id`` as sequence and its ``file_name`` as relative path. Missing photos
    become failure records (a run never stops on one bad photo)."""
    root = Path(photos_dir).resolve()
    paths = [(root / f).resolve() for f in metadata.files]
    present = [p for p in paths if p.is_file()]
    by_path: dict[str, ImageRecord] = {}
    if present:
        with Catalog(catalog_path or default_catalog_path(root)) as catalog:
            ingest_folder(root, catalog, files=present, progress=progress)
            by_path = {r.path: r for r in catalog.images(paths=[str(p) for p in present])}
    out = []
    for i, (p, f, s) in enumerate(zip(paths, metadata.files, metadata.seq_ids)):
        rec = by_path.get(str(p))
        if rec is None:
            rec = ImageRecord(id=-(i + 1), path=str(p), root=str(root), rel_path=f, deployment="", sha256=None,
                              taken_at=None, sequence_id=s, width=None, height=None,
                              failure=f"file not found below {root}")
        out.append(replace(rec, rel_path=f, sequence_id=s))
    return out


def write_sequence_submission(path: str | os.PathLike, sequence_probs_by_id: dict, order: list[str],
                              classes: list[str], prior: dict[str, float] | None) -> list[str]:
    """One row per sequence in ``order``; sequences without any readable photo get the training
    class prior (or 0.5). Returns the ids that fell back to the prior."""
    fallback = np.array([(prior or {}).get(c, 0.5) for c in classes])
    rows, missing = [], []
    for s in order:
        p = sequence_probs_by_id.get(s)
        if p is None:
            missing.append(s)
            p = fallback
        rows.append(np.clip(p, 0.0, 1.0))
    write_submission(path, order, classes, np.stack(rows) if rows else np.zeros((0, len(classes))))
    return missing


def predict_serengeti(model_path: str | os.PathLike, photos_dir: str | os.PathLike, out: str | os.PathLike,
                      metadata_csv: str | os.PathLike, submission: str | os.PathLike | None = None,
                      by_sequence: bool = False, catalog_path: str | os.PathLike | None = None,
                      backbone: str | None = None, runtime: str = "auto", listener: Listener | None = None,
                      decode_threads: int = 1, engine: Engine | None = None,
                      decision: DecisionOptions | None = None) -> PredictReport:
    """``irbis predict --serengeti-metadata``: classify exactly the metadata's photos (``file_name``
    relative to ``photos_dir``) with its ``seq_id`` as sequences; ``submission``: also write one row per
    sequence, ``seq_id`` + one probability per class (the per-sequence ensemble), in the metadata's order."""
    classifier = ClassifierSpec(str(model_path), backbone, runtime).build()
    meta = read_metadata(metadata_csv)
    records = metadata_records(meta, photos_dir, catalog_path, listener is not None)
    preds = classify_records(records, classifier, engine or get_engine(decode_threads=decode_threads), listener)
    bundle = classifier.bundle
    notes = []
    if submission is not None:
        order = meta.sequence_order()
        fallback = write_sequence_submission(submission, preds.sequence_probs, order, bundle.classes,
                                             bundle.metrics.get("class_prior"))
        notes.append(f"submission ({len(order)} sequences x {len(bundle.classes)} classes) written to {submission}")
        if fallback:
            notes.append(f"{len(fallback)} sequence(s) without a readable photo got the training class prior: "
                         f"{', '.join(fallback[:10])}")
    policy = LabelPolicy(bundle, decision or DecisionOptions()) if bundle.task != "multilabel" else None
    report = write_predictions(out, preds, by_sequence, policy)
    report.notes = notes
    return report
