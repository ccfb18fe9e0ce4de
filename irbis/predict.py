"""Classify every photo of a folder with a model bundle; optional per-sequence ensemble."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .atomic import write_csv_atomic
from .catalog import Catalog
from .config import default_catalog_path
from .decision import LabelPolicy, relabel_rows
from .engines import Engine, get_engine
from .features import compute_features
from .ingest.remote import folder_records
from .options import DecisionOptions, PredictOptions
from .outputs import OutputLock, check_output_path
from .progress import Listener
from .records import ImageRecord
from .stages.classify import ClassifierSpec, ImageClassifier
from .stages.ensemble import ensemble_by_key


@dataclass
class PredictReport:
    out: str
    n_photos: int
    counts: dict[str, int]
    failures: dict[str, str] = field(default_factory=dict)
    n_sequences: int = 0
    computed: int = 0
    cached: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = ", ".join(f"{c}: {n}" for c, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))
        lines = [f"{self.n_photos} photos in {self.n_sequences} sequences -> {counts or 'none'}",
                 f"features: {self.computed} computed, {self.cached} from cache",
                 f"{len(self.failures)} failure(s)" + (":" if self.failures else "")]
        lines += [f"  {f}: {why}" for f, why in list(self.failures.items())[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more (see the 'failure' column)")
        lines += self.notes
        lines.append(f"predictions written to {self.out}")
        return "\n".join(lines)


@dataclass
class Predictions:
    """Per-photo probabilities (NaN rows for failures), plus per-sequence ensembles."""

    records: list[ImageRecord]
    classes: list[str]
    probs: np.ndarray
    failures: dict[int, str]
    sequence_probs: dict = field(default_factory=dict)     # sequence id -> ensembled probabilities
    computed: int = 0
    cached: int = 0

    def rows(self, by_sequence: bool = False) -> tuple[list[str], list[list]]:
        header = ["file", "sequence", "predicted", "confidence", "failure"] + [f"prob_{c}" for c in self.classes]
        if by_sequence:
            header += ["sequence_predicted", "sequence_confidence"] + [f"sequence_prob_{c}" for c in self.classes]
        out = []
        for rec, p in zip(self.records, self.probs):
            fail = self.failures.get(rec.id, "")
            if fail:
                row = [rec.rel_path, rec.sequence_id or "", "", "", fail] + [""] * len(self.classes)
            else:
                k = int(np.argmax(p))
                row = [rec.rel_path, rec.sequence_id or "", self.classes[k], f"{p[k]:.4f}", ""] + \
                      [f"{v:.4f}" for v in p]
            if by_sequence:
                sp = self.sequence_probs.get(rec.sequence_id) if rec.sequence_id else None
                if sp is None:
                    row += ["", ""] + [""] * len(self.classes)
                else:
                    k = int(np.argmax(sp))
                    row += [self.classes[k], f"{sp[k]:.4f}"] + [f"{v:.4f}" for v in sp]
            out.append(row)
        return header, out


def classify_records(records: list[ImageRecord], classifier: ImageClassifier, engine: Engine | None = None,
                     listener: Listener | None = None) -> Predictions:
    """Probabilities for every record (features through the cache) and per-sequence ensembles."""
    bundle = classifier.bundle
    table = compute_features(records, classifier.featurize_spec().build(), engine, listener)
    probs = np.full((len(records), len(bundle.classes)), np.nan)
    X, idx = table.matrix(records)
    if idx:
        probs[idx] = classifier.predict_features(X)
    ok = [i for i in range(len(records)) if records[i].id not in table.failures]
    seq = ensemble_by_key([records[i].sequence_id for i in ok], probs[ok], bundle.classes,
                          normalize=bundle.task in ("binary", "multiclass"))
    return Predictions(records, bundle.classes, probs, table.failures, seq, table.computed, table.cached)


def write_predictions(out: str | os.PathLike, preds: Predictions, by_sequence: bool = False,
                      policy: LabelPolicy | None = None,
                      catalog_path: str | os.PathLike | None = None) -> PredictReport:
    """The predictions CSV, written atomically, and the report summarising it. ``policy``: calibrated,
    geofenced, thresholded answers in 'predicted' / 'confidence' (:mod:`irbis.decision`)."""
    header, rows = preds.rows(by_sequence)
    if policy is not None and policy.active:
        relabel_rows(header, rows, preds.records, preds.probs, preds.sequence_probs, policy)
    if catalog_path is not None:  # strip time and temperature where `ingest --read-strips` read them
        from .strips_catalog import add_strip_columns
        with Catalog(catalog_path) as catalog:
            header, rows = add_strip_columns(catalog, [r.path for r in preds.records], header, rows)
    write_csv_atomic(out, header, rows)
    records = preds.records
    counts = Counter(r[2] for r in rows if r[2])
    failures = {rec.rel_path: preds.failures[rec.id] for rec in records if rec.id in preds.failures}
    return PredictReport(str(out), len(records), dict(counts), failures,
                         len({r.sequence_id for r in records}), preds.computed, preds.cached)


def predict(model_path: str | os.PathLike, photos_dir: str | os.PathLike, out: str | os.PathLike,
            by_sequence: bool = PredictOptions.by_sequence, catalog_path: str | os.PathLike | None = None,
            backbone: str | None = PredictOptions.backbone, runtime: str = PredictOptions.runtime,
            listener: Listener | None = None, sequence_gap: float | None = PredictOptions.sequence_gap,
            decode_threads: int = PredictOptions.decode_threads, engine: Engine | None = None,
            decision: DecisionOptions | None = None) -> PredictReport:
    """Classify every photo below ``photos_dir`` and write the predictions CSV ``out``.

    ``model_path`` may also be ``imagenet-species`` (zero-shot); ``decision``: thresholds, rollup,
    geofence (:mod:`irbis.decision`)."""
    check_output_path(out)
    with OutputLock(out):
        classifier = ClassifierSpec(str(model_path), backbone, runtime).build()
        policy = LabelPolicy(classifier.bundle, decision or DecisionOptions())
        engine = engine or get_engine(decode_threads=decode_threads)
        records = folder_records(photos_dir, catalog_path, sequence_gap, progress=listener is not None, engine=engine)
        preds = classify_records(records, classifier, engine, listener)
        return write_predictions(out, preds, by_sequence, policy, catalog_path or default_catalog_path(photos_dir))
