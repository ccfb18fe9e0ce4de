"""Parquet outputs for cluster-sized surveys: features and detections as Hive-partitioned datasets
(``deployment=<name>/part-0.parquet``), readable by Spark, pandas, DuckDB and R's arrow.

* features: one row per photo and flip: ``file, sha256, sequence, flipped, feature`` (float32
  list) or ``failure``;
* detections: one row per box (``category, conf, bbox_x/y/w/h``, top ``class`` and
  ``class_conf`` when classified), one row with empty box fields per photo without boxes or
  failed (``failure``), so every photo appears.

A dataset is written beside its destination and swapped in whole: readers never see half of one.
Needs pyarrow (``pip install 'irbis[spark]'``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..atomic_dir import atomic_directory
from ..records import ImageRecord


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet output needs pyarrow: pip install 'irbis[spark]'") from None
    return pa, pq


DATASET_MARKER = "deployment=*"     # what an earlier dataset holds: only such a folder is replaced


def write_dataset(out_dir: str | os.PathLike, table) -> Path:
    """``table`` (a pyarrow Table with a ``deployment`` column) as a dataset partitioned by it,
    swapped in whole (:func:`irbis.atomic_dir.atomic_directory`): an earlier dataset is replaced,
    a folder holding anything else is refused."""
    _, pq = _pyarrow()
    with atomic_directory(out_dir, replace_marker=DATASET_MARKER) as tmp:
        pq.write_to_dataset(table, str(tmp), partition_cols=["deployment"],
                            basename_template="part-{i}.parquet", existing_data_behavior="overwrite_or_ignore")
    return Path(out_dir)


def features_table(records: Sequence[ImageRecord], features: dict, failures: dict[int, str],
                   flips: tuple[bool, ...], stage_id: str):
    """Rows of a :class:`irbis.features.FeatureTable` (``features``, ``failures``) for ``records``."""
    pa, _ = _pyarrow()
    cols: dict[str, list] = {k: [] for k in ("deployment", "file", "sha256", "sequence", "flipped", "feature",
                                              "failure")}
    for r in records:
        for f in flips:
            v = features.get((r.id, f))
            for k, x in (("deployment", r.deployment or "unknown"), ("file", r.rel_path), ("sha256", r.sha256),
                         ("sequence", r.sequence_id), ("flipped", f),
                         ("feature", None if v is None else v.astype("float32").tolist()),
                         ("failure", None if v is not None else failures.get(r.id, "no features"))):
                cols[k].append(x)
    schema = pa.schema([("deployment", pa.string()), ("file", pa.string()), ("sha256", pa.string()),
                        ("sequence", pa.string()), ("flipped", pa.bool_()), ("feature", pa.list_(pa.float32())),
                        ("failure", pa.string())], metadata={"irbis_feature_id": stage_id})
    return pa.table(cols, schema=schema)


def detections_table(records: Sequence[ImageRecord], doc: dict):
    """Rows of an MD JSON results document, the catalog's deployment and sequence per photo."""
    pa, _ = _pyarrow()
    by_file = {r.rel_path: r for r in records}
    classes = doc.get("classification_categories") or {}
    names = ("deployment", "file", "sequence", "category", "conf", "bbox_x", "bbox_y", "bbox_w", "bbox_h",
             "class", "class_conf", "failure")
    cols: dict[str, list] = {k: [] for k in names}

    def add(**row):
        for k in names:
            cols[k].append(row.get(k))

    for im in doc["images"]:
        rec = by_file.get(im["file"])
        base = {"deployment": (rec.deployment if rec else None) or "unknown", "file": im["file"],
                "sequence": rec.sequence_id if rec else im.get("seq_id")}
        dets = im.get("detections") or []
        if im.get("failure") or not dets:
            add(**base, failure=im.get("failure"))
        for d in dets:
            top = (d.get("classifications") or [[None, None]])[0]
            x, y, w, h = d["bbox"]
            add(**base, category=d["category"], conf=d["conf"], bbox_x=x, bbox_y=y, bbox_w=w, bbox_h=h,
                **{"class": classes.get(top[0]) if top[0] is not None else None, "class_conf": top[1]})
    f64, s = pa.float64(), pa.string()
    schema = pa.schema([("deployment", s), ("file", s), ("sequence", s), ("category", s), ("conf", f64),
                        ("bbox_x", f64), ("bbox_y", f64), ("bbox_w", f64), ("bbox_h", f64), ("class", s),
                        ("class_conf", f64), ("failure", s)])
    return pa.table(cols, schema=schema)
