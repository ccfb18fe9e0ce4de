"""Fit a classifier bundle from labelled photos: features -> logistic regression.

Regularisation is chosen by cross-validation grouped by deployment or sequence, so bursts
never straddle folds (flipped copies stay with their photo); classes are weighted by their
frequency; cross-validated accuracy and per-class precision / recall are reported.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .calibration import trust_from_cv
from .catalog import Catalog
from .config import default_catalog_path
from .engines import Engine, get_engine
from .features import FeatureTable, compute_features
from .ingest import ingest_folder
from .labels import LabelsError, read_labels
from .models.bundle import ModelBundle
from .options import TrainOptions
from .progress import Listener
from .records import ImageRecord
from .stages.augment import stack_views, training_flips
from .stages.crops import CropFeaturizeSpec
from .stages.featurize import FeaturizeSpec, FeaturizeStage
from .taxonomy import read_label_taxonomy

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# Logistic-regression fits run with one BLAS thread: its small matrix products gain nothing from a
# second thread, and a busy second core (decoding, another program) made them ~70x slower.
BLAS_THREADS = 1


def make_classifier(C: float) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=3000))


@dataclass
class TrainReport:
    model_path: str
    classes: list[str]
    n_photos: int
    n_rows: int
    metrics: dict
    skipped: dict[str, str] = field(default_factory=dict)   # file -> why it was left out

    def summary(self) -> str:
        m = self.metrics
        lines = [f"trained on {self.n_photos} photos ({self.n_rows} rows with flips), classes: "
                 f"{', '.join(self.classes)}"]
        if "crops" in m.get("trained_on", ""):
            lines.append(f"features of {m['trained_on']}")
        if "cv_aggregated_log_loss" in m:
            lines.append(f"cross-validated ({m['cv_folds']} folds grouped by {m['cv_groups']}): aggregated "
                         f"log loss per sequence {m['cv_aggregated_log_loss']:.4f} (prior only: "
                         f"{m['cv_prior_log_loss']:.4f}), top-1 accuracy {m['cv_top1_accuracy']:.3f}, C={m['C']}")
        elif "cv_accuracy" in m:
            lines.append(f"cross-validated ({m['cv_folds']} folds grouped by {m['cv_groups']}): "
                         f"accuracy {m['cv_accuracy']:.3f}, balanced accuracy {m['cv_balanced_accuracy']:.3f}, "
                         f"C={m['C']}")
            lines.append(f"  {'class':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
            for c in self.classes:
                pc = m["per_class"][c]
                lines.append(f"  {c:<20} {pc['precision']:>9.3f} {pc['recall']:>7.3f} {pc['f1']:>6.3f} "
                             f"{pc['support']:>5d}")
        else:
            lines.append(f"no cross-validation: {m.get('cv_skipped', '')}; C={m['C']}")
        if self.skipped:
            lines.append(f"{len(self.skipped)} labelled photo(s) left out as unreadable:")
            lines += [f"  {f}: {why}" for f, why in list(self.skipped.items())[:10]]
        lines.append(f"model written to {self.model_path}")
        return "\n".join(lines)


def _groups(rows, records) -> tuple[np.ndarray, str]:
    if all(r.deployment for r in rows) and len({r.deployment for r in rows}) >= 3:
        return np.array([r.deployment for r in rows]), "deployment"
    if all(r.sequence for r in rows):
        return np.array([r.sequence for r in rows]), "sequence"
    return np.array([f"{rec.sequence_id}" for rec in records]), "sequence (from EXIF time per folder)"


def cross_validate(X: list[np.ndarray], y: np.ndarray, groups: np.ndarray, classes: list[str],
                   C_grid=C_GRID, max_folds: int = 5, seed: int = 0, make=make_classifier) -> dict:
    """Grouped, stratified CV over ``C_grid``. ``X`` holds one matrix per view (original first);
    flipped views only ever train. Returns metrics of the best C (lowest out-of-fold log loss).
    ``make(C)`` builds the classifier (default: :func:`make_classifier`)."""
    per_class_groups = min(len(set(groups[y == c])) for c in np.unique(y))
    folds = min(max_folds, per_class_groups)
    if folds < 2:
        return {"cv_skipped": "every class needs photos from at least 2 groups (sequences or deployments)"}
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(X[0], y, groups))
    with threadpool_limits(BLAS_THREADS):
        return _cv_grid(X, y, splits, classes, C_grid, make, folds)


def _cv_grid(X, y, splits, classes, C_grid, make, folds) -> dict:
    best: tuple | None = None
    for C in C_grid:
        oof = np.zeros((len(y), len(classes)))
        for train_idx, test_idx in splits:
            Xt, yt = stack_views([v[train_idx] for v in X], y[train_idx])
            clf = make(C)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(Xt, yt)
            proba = np.zeros((len(test_idx), len(classes)))
            proba[:, [classes.index(c) for c in clf.classes_]] = clf.predict_proba(X[0][test_idx])
            oof[test_idx] = proba
        clipped = np.clip(oof, 1e-7, 1)
        loss = log_loss(y, clipped / clipped.sum(axis=1, keepdims=True), labels=classes)
        if best is None or loss < best[0]:
            best = (loss, C, oof)
    assert best is not None
    loss, C, oof = best
    pred = np.array(classes)[oof.argmax(1)]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {
        "C": C, "cv_folds": folds, "cv_log_loss": float(loss),
        "cv_accuracy": float(accuracy_score(y, pred)),
        "cv_balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(s[i])} for i, c in enumerate(classes)},
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "_oof": oof, "_fold": _fold_of(splits, len(y)),   # for calibration (popped by train)
    }


def _fold_of(splits, n: int) -> np.ndarray:
    fold = np.zeros(n, int)
    for f, (_, test_idx) in enumerate(splits):
        fold[test_idx] = f
    return fold


def catalogue_files(paths: list[Path], catalog_path: str | os.PathLike | None = None) -> list[ImageRecord]:
    """Ingest just these files (absolute paths) and return their records in ``paths`` order."""
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    with Catalog(catalog_path or default_catalog_path(root)) as catalog:
        ingest_folder(root, catalog, files=paths, progress=False)
        return catalog.images(paths=[str(p) for p in paths])


def featurize_files(paths: list[Path], stage, catalog_path: str | os.PathLike | None = None,
                    engine: Engine | None = None, listener: Listener | None = None,
                    task: str = "featurize (train)") -> tuple[list[ImageRecord], FeatureTable]:
    """Catalogue ``paths`` (absolute) and featurize them through the cache; records in ``paths`` order.

    ``stage``: a featurize stage or a crop stage (:mod:`irbis.stages.crops`)."""
    records = catalogue_files(paths, catalog_path)
    return records, compute_features(records, stage, engine, listener, task)


def train(labels_csv: str | os.PathLike, out: str | os.PathLike, backbone: str = TrainOptions.backbone,
          layer: str = TrainOptions.layer, flip: bool = TrainOptions.flip,
          catalog_path: str | os.PathLike | None = None, runtime: str = TrainOptions.runtime,
          listener: Listener | None = None, C: float | None = TrainOptions.C,
          decode_threads: int = TrainOptions.decode_threads, crops: str | None = None,
          engine: Engine | None = None, target_precision: float = TrainOptions.target_precision,
          taxonomy: str | os.PathLike | None = TrainOptions.taxonomy, trainer: str = TrainOptions.trainer,
          spark_master: str | None = None) -> TrainReport:
    """Train and save a bundle; raises LabelsError before writing anything if the CSV is bad.

    With ``crops`` (a detector name), each photo is represented by its most confident animal box,
    cropped as ``irbis run`` crops boxes: the model then classifies detector boxes.
    (Serengeti sequence labels train a multilabel model: :func:`irbis.multilabel.train_multilabel`.)
    ``target_precision`` / ``taxonomy``: calibration, per-class thresholds and rollup (:mod:`irbis.calibration`).
    ``trainer``: ``sklearn`` (here, C cross-validated, calibrated) or ``spark`` (Spark ML on the
    engine's session, else one on ``spark_master``; no cross-validation: :mod:`irbis.train_spark`).
    """
    from .outputs import check_output_path
    from .train_spark import TRAINERS
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; choose one of {', '.join(TRAINERS)}")
    if trainer == "spark" and getattr(engine, "name", None) != "spark":
        from .engines.spark import check_can_start
        check_can_start(spark_master)   # before featurizing: a missing Java is one line now, not after the work
    check_output_path(out)
    rows = read_labels(labels_csv)
    classes = sorted({r.label for r in rows})
    if len(classes) < 2:
        raise LabelsError(f"{labels_csv}: needs at least two classes, found {classes}")
    label_taxonomy = read_label_taxonomy(taxonomy, classes) if taxonomy else {}
    flips = training_flips(flip)
    spec = FeaturizeSpec(backbone, layer, runtime, 1, flips)
    stage = spec.build() if not crops else CropFeaturizeSpec(spec, crops).build()
    featurizer = (stage if isinstance(stage, FeaturizeStage) else stage.features).featurizer
    engine = engine or get_engine(decode_threads=decode_threads)
    records, table = featurize_files([r.path for r in rows], stage, catalog_path, engine, listener,
                                     "detect + featurize crops" if crops else "featurize (train)")
    keep = [i for i, rec in enumerate(records) if rec.id not in table.failures]
    skipped = {str(records[i].rel_path): table.failures[records[i].id]
               for i in range(len(records)) if records[i].id in table.failures}
    rows_k = [rows[i] for i in keep]
    recs_k = [records[i] for i in keep]
    y = np.array([r.label for r in rows_k])
    present = sorted(set(y))
    if len(present) < 2:
        raise LabelsError(f"{labels_csv}: after leaving out unreadable photos only {present} remain")
    views = [np.stack([table.features[(rec.id, f)] for rec in recs_k]) for f in flips]
    groups, group_kind = _groups(rows_k, recs_k)
    metrics: dict = {}
    oof = fold = None
    if trainer == "spark":
        from .train_spark import DEFAULT_C, NO_CV
        metrics = {"C": DEFAULT_C if C is None else C, "cv_skipped": NO_CV, "trainer": "spark"}
    elif C is None:
        metrics = cross_validate(views, y, groups, present)
        oof, fold = metrics.pop("_oof", None), metrics.pop("_fold", None)
        if "C" not in metrics:
            metrics["C"] = 1.0
        else:
            metrics["cv_groups"] = group_kind
    else:
        metrics = {"C": C, "cv_skipped": "C given by the user"}
    X_all, y_all = stack_views(views, y)
    if trainer == "spark":
        clf = fit_with_spark(X_all, y_all, present, metrics["C"], engine, spark_master)
    else:
        clf = make_classifier(metrics["C"])
        with warnings.catch_warnings(), threadpool_limits(BLAS_THREADS):
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_all, y_all)
    metrics["train_accuracy"] = float(accuracy_score(y, clf.predict(views[0])))
    metrics["n_photos"] = len(y)
    if crops:
        metrics["trained_on"] = f"detector crops ({crops}); {table.boxed} of {len(records)} photos had an animal box"
    else:
        metrics["trained_on"] = "whole photos"
    metrics["class_counts"] = {c: int((y == c).sum()) for c in present}
    bundle = ModelBundle(
        backbone_name=featurizer.spec.name, backbone_arch=featurizer.spec.arch,
        backbone_digest=featurizer.spec.digest, layer=layer,
        preprocessing=featurizer.prep.as_dict(), classes=list(clf.classes_), classifier=clf,
        task="binary" if len(present) == 2 else "multiclass", flip_augment=flip, metrics=metrics,
        trust=trust_from_cv(oof, y, fold, present, target_precision, label_taxonomy))
    metrics["trust"] = {k: v for k, v in bundle.trust.items() if k != "taxonomy"}
    bundle.save(out)
    if len(present) < len(classes):
        print(f"warning: classes without readable photos were dropped: {sorted(set(classes) - set(present))}",
              file=sys.stderr)
    return TrainReport(str(out), list(clf.classes_), len(y), len(X_all), metrics, skipped)


def fit_with_spark(X: np.ndarray, y: np.ndarray, classes: list[str], C: float, engine: Engine | None,
                   spark_master: str | None) -> Any:
    """``--trainer spark``: Spark ML fits on the spark engine's session (or one started on
    ``spark_master`` for this fit); returns the scikit-learn pipeline holding its coefficients."""
    from .train_spark import fit_on_spark
    session = getattr(engine, "spark", None)
    if session is not None:
        return fit_on_spark(session, X, y, classes, C)
    from .engines.spark import SparkEngine
    with SparkEngine(master=spark_master) as own:
        return fit_on_spark(own.spark, X, y, classes, C)
