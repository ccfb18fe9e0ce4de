"""Classify every photo of a folder with a model bundle; optional per-sequence ensemble."""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .atomic import atomic_write
from .catalog import Catalog, ImageRecord
from .config import default_catalog_path, feature_cache_path
from .engines.local import featurize_records
from .feature_cache import FeatureCache
from .ingest import ingest_folder
from .models.bundle import ModelBundle
from .stages.ensemble import ensemble_by_key
from .stages.featurize import Featurizer


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
    sequence_probs: dict[str, np.ndarray] = field(default_factory=dict)
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
                sp = self.sequence_probs.get(rec.sequence_id)
                if sp is None:
                    row += ["", ""] + [""] * len(self.classes)
                else:
                    k = int(np.argmax(sp))
                    row += [self.classes[k], f"{sp[k]:.4f}"] + [f"{v:.4f}" for v in sp]
            out.append(row)
        return header, out


def classify_records(records: list[ImageRecord], bundle: ModelBundle, backbone: str | None = None,
                     runtime: str = "auto", progress: bool = True, decode_threads: int = 1) -> Predictions:
    spec = bundle.backbone(backbone)
    featurizer = Featurizer(spec, layer=bundle.layer, runtime=runtime)
    cache = FeatureCache(feature_cache_path())
    try:
        table = featurize_records(records, featurizer, cache, progress=progress, decode_threads=decode_threads)
    finally:
        cache.close()
    probs = np.full((len(records), len(bundle.classes)), np.nan)
    X, idx = table.matrix(records)
    if idx:
        probs[idx] = bundle.predict_proba(X)
    ok = [i for i in range(len(records)) if records[i].id not in table.failures]
    seq = ensemble_by_key([records[i].sequence_id for i in ok], probs[ok], bundle.classes,
                          normalize=bundle.task in ("binary", "multiclass"))
    return Predictions(records, bundle.classes, probs, table.failures, seq, table.computed, table.cached)


def write_csv_atomic(path: str | os.PathLike, header: list[str], rows: list[list]) -> None:
    def write(fh) -> None:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    atomic_write(path, write, text=True)


def predict(model_path: str | os.PathLike, photos_dir: str | os.PathLike, out: str | os.PathLike,
            by_sequence: bool = False, catalog_path: str | os.PathLike | None = None,
            backbone: str | None = None, runtime: str = "auto", progress: bool = True,
            sequence_gap_s: float | None = None, decode_threads: int = 1,
            serengeti_metadata: str | os.PathLike | None = None,
            submission: str | os.PathLike | None = None) -> PredictReport:
    """Classify every photo below ``photos_dir`` and write the predictions CSV ``out``.

    ``serengeti_metadata``: classify exactly the metadata's photos (``file_name`` relative to
    ``photos_dir``) and use its ``seq_id`` as sequences. ``submission``: also write one row per
    sequence, ``seq_id`` + one probability per class (the per-sequence ensemble), in the metadata's
    sequence order (without metadata: in order of first photo).
    """
    bundle = ModelBundle.load(model_path)
    if serengeti_metadata is not None:
        from .multilabel import metadata_records
        from .serengeti import read_metadata
        meta = read_metadata(serengeti_metadata)
        records = metadata_records(meta, photos_dir, catalog_path, progress)
        order = meta.sequence_order()
    else:
        with Catalog(catalog_path or default_catalog_path(photos_dir)) as catalog:
            kwargs = {} if sequence_gap_s is None else {"sequence_gap_s": sequence_gap_s}
            ingest_folder(photos_dir, catalog, progress=progress, **kwargs)
            records = catalog.images(photos_dir)
        order = list(dict.fromkeys(r.sequence_id for r in records if r.sequence_id))
    preds = classify_records(records, bundle, backbone=backbone, runtime=runtime, progress=progress,
                             decode_threads=decode_threads)
    header, rows = preds.rows(by_sequence)
    if serengeti_metadata is None:  # strip time and temperature where `ingest --read-strips` read them
        from .strips_catalog import add_strip_columns
        with Catalog(catalog_path or default_catalog_path(photos_dir)) as catalog:
            header, rows = add_strip_columns(catalog, [r.path for r in records], header, rows)
    notes = []
    if submission is not None:
        from .multilabel import write_sequence_submission
        fallback = write_sequence_submission(submission, preds.sequence_probs, order, bundle.classes,
                                             bundle.metrics.get("class_prior"))
        notes.append(f"submission ({len(order)} sequences x {len(bundle.classes)} classes) written to {submission}")
        if fallback:
            notes.append(f"{len(fallback)} sequence(s) without a readable photo got the training class prior: "
                         f"{', '.join(fallback[:10])}")
    write_csv_atomic(out, header, rows)
    counts = Counter(r[2] for r in rows if r[2])
    failures = {rec.rel_path: preds.failures[rec.id] for rec in records if rec.id in preds.failures}
    return PredictReport(str(out), len(records), dict(counts), failures,
                         len({r.sequence_id for r in records}), preds.computed, preds.cached, notes)
