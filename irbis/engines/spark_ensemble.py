"""The sequence ensemble as a Spark groupBy: per-photo probabilities -> per-sequence ones, with
:func:`irbis.stages.ensemble.ensemble_by_key`'s rule (mean per class; geometric mean for
``empty``; renormalised for single-label models), for tables kept on the cluster (e.g. a
Parquet dataset of predictions). The CLI's own ensembles stay on the driver (a few numbers per
photo), so its files equal the local engine's to the last digit."""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

from ..stages.ensemble import EPS


def ensemble_dataframe(df, key: str, prob_cols: Sequence[str], classes: Sequence[str],
                       geometric: Sequence[str] = ("empty",), normalize: bool = True):
    """A DataFrame with ``key`` and one probability column per class -> one row per key with the
    combined probabilities in the same columns (rows whose key is null are left out)."""
    from pyspark.sql import functions as F
    aggs = []
    for col, cls in zip(prob_cols, classes, strict=True):
        if cls in set(geometric):
            aggs.append(F.exp(F.avg(F.log(F.least(F.greatest(F.col(col), F.lit(EPS)), F.lit(1.0))))).alias(col))
        else:
            aggs.append(F.avg(F.col(col)).alias(col))
    out = df.where(F.col(key).isNotNull()).groupBy(key).agg(*aggs)
    if normalize:
        total = sum((F.col(c) for c in prob_cols[1:]), F.col(prob_cols[0]))
        out = out.select(key, *[(F.col(c) / total).alias(c) for c in prob_cols])
    return out


def ensemble_on_spark(spark, keys: Sequence[Hashable], probs: np.ndarray, classes: Sequence[str],
                      geometric: Sequence[str] = ("empty",), normalize: bool = True) -> dict[Hashable, np.ndarray]:
    """:func:`~irbis.stages.ensemble.ensemble_by_key` computed by Spark (keys are strings)."""
    cols = [f"p{i}" for i in range(len(classes))]
    rows = [(None if k is None else str(k), *map(float, p)) for k, p in zip(keys, probs, strict=True)]
    schema = "key string, " + ", ".join(f"{c} double" for c in cols)
    df = spark.createDataFrame(rows, schema)
    got = ensemble_dataframe(df, "key", cols, classes, geometric, normalize).collect()
    return {r["key"]: np.array([r[c] for c in cols]) for r in got}
