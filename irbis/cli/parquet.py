"""``--parquet DIR`` on featurize, detect and run: the results also as a Parquet dataset
partitioned by deployment (:mod:`irbis.formats.parquet`), for Spark, DuckDB or R's arrow."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def dataset_dir(value: str) -> str:
    """``--parquet DIR`` checked before any work: new, empty, or an earlier dataset (replaced)."""
    from ..atomic_dir import check_replaceable
    from ..formats.parquet import DATASET_MARKER
    try:
        check_replaceable(value, DATASET_MARKER)
    except FileExistsError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (only an earlier Parquet dataset is replaced)") from None
    return value


def add_parquet_arg(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--parquet", metavar="DIR", type=dataset_dir,
                   help=f"also write {what} as a Parquet dataset partitioned by deployment (needs irbis[spark])")


def write_features_parquet(out_dir, records, table, stage) -> str:
    from ..formats.parquet import features_table, write_dataset
    flips = tuple(stage.spec.flips)
    write_dataset(out_dir, features_table(records, table.features, table.failures, flips, stage.id))
    return f"features written to {out_dir} (Parquet, by deployment)"


def write_detections_parquet(args) -> str:
    """After ``irbis detect|run``: the MD JSON it wrote, one row per box, as a dataset."""
    from ..catalog import Catalog
    from ..config import default_catalog_path
    from ..formats.parquet import detections_table, write_dataset
    with Catalog(args.catalog or default_catalog_path(args.photos_dir)) as catalog:
        records = catalog.images(args.photos_dir)
    doc = json.loads(Path(args.out).read_text(encoding="utf-8"))
    write_dataset(args.parquet, detections_table(records, doc))
    return f"detections written to {args.parquet} (Parquet, by deployment)"
