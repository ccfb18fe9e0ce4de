"""``irbis train --trainer spark``: the logistic regression fitted by Spark ML on the cluster.

For feature tables too big for one machine: Spark ML's ``LogisticRegression``
(``pyspark.ml.classification``; binomial for two classes, multinomial otherwise) fits a DataFrame
of feature vectors on the executors, and its coefficients and intercepts are put into the same
scikit-learn pipeline :func:`irbis.train.make_classifier` builds, so the model bundle, ``irbis
predict`` and ``irbis run`` are unchanged (the same ``predict_proba`` code).

The objective is scikit-learn's, restated in Spark's terms:

* scikit-learn minimises ``0.5 |w|^2 + C * sum_i s_i loss_i`` on standardised features, with
  balanced sample weights ``s_i = n / (k n_class)`` (they sum to ``n``);
* Spark minimises ``sum_i s_i loss_i / sum_i s_i + regParam * 0.5 |w|^2``, also on standardised
  features (``standardization=True``; coefficients come back on the original scale), intercepts
  unpenalised as in scikit-learn's lbfgs;
* hence ``regParam = 1 / (C * sum_i s_i) = 1 / (C * n)``. What still differs: Spark
  standardises with the sample standard deviation (n - 1), scikit-learn with the population one
  (n), so Spark's penalty is slightly weaker (a factor n / (n - 1) per coefficient), and both stop
  at their own convergence tolerance. Coefficients agree closely, not to the last digit.

No cross-validation runs on the cluster (one fit per C and fold would multiply the cost), so a
Spark-trained bundle has no calibration and no per-class thresholds: ``irbis predict`` answers
the top class (rolled up by a taxonomy when one is given). C is ``--C`` (default 1.0).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

TRAINERS = ("sklearn", "spark")
DEFAULT_C = 1.0
MAX_ITER = 3000
TOL = 1e-9
NO_CV = ("--trainer spark: no cross-validation on the cluster, hence no calibration or per-class "
         "thresholds (answers are the top class)")


def reg_param(C: float, weight_sum: float) -> float:
    """Spark's ``regParam`` for scikit-learn's ``C`` when the sample weights sum to ``weight_sum``."""
    return 1.0 / (C * weight_sum)


def balanced_weights(counts: dict[Any, int]) -> dict[Any, float]:
    """scikit-learn's ``class_weight='balanced'``: n / (k * n_class) per class."""
    n, k = sum(counts.values()), len(counts)
    return {c: n / (k * m) for c, m in counts.items()}


def fit_dataframe(df, n_classes: int, C: float = DEFAULT_C, features: str = "features", label: str = "label",
                  max_iter: int = MAX_ITER, tol: float = TOL) -> tuple[np.ndarray, np.ndarray]:
    """Fit Spark ML logistic regression on ``df`` and return (coefficients (K or 1, d), intercepts).

    ``df``: a Spark DataFrame with a feature column (an ML vector, or an array of floats such as a
    Parquet features dataset's ``feature``) and an integer class index ``label`` in
    ``0..n_classes-1`` (classes in sorted order, as scikit-learn's ``classes_``). Classes are
    weighted as scikit-learn's ``class_weight='balanced'``; nothing is collected to the driver but
    the class counts and the coefficients."""
    from pyspark.ml.classification import LogisticRegression as SparkLR
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    if isinstance(df.schema[features].dataType, ArrayType):
        df = df.withColumn(features, array_to_vector(F.col(features)))
    counts = {int(r[0]): int(r[1]) for r in df.groupBy(label).count().collect()}
    missing = sorted(set(range(n_classes)) - set(counts))
    if missing:
        raise ValueError(f"classes {missing} have no training rows")
    weights = balanced_weights(counts)
    weight_of = F.create_map(*[F.lit(x) for c, w in sorted(weights.items()) for x in (c, w)])
    df = df.withColumn("_weight", weight_of[F.col(label).cast("int")]).withColumn(
        label, F.col(label).cast("double"))
    lr = SparkLR(featuresCol=features, labelCol=label, weightCol="_weight", regParam=reg_param(C, sum(counts.values())),
                 elasticNetParam=0.0, standardization=True, fitIntercept=True, maxIter=max_iter, tol=tol,
                 family="binomial" if n_classes == 2 else "multinomial")
    model = lr.fit(df)
    if n_classes == 2:
        return np.asarray(model.coefficients.toArray())[None, :], np.array([model.intercept])
    return np.asarray(model.coefficientMatrix.toArray()), np.asarray(model.interceptVector.toArray())


def features_dataframe(spark, X: np.ndarray, y_idx: np.ndarray, rows_per_slice: int = 4096):
    """A Spark DataFrame ``(features array<float>, label int)`` of a feature matrix held here,
    sent in Arrow slices (the CLI's route: ``irbis train`` featurizes through its cache first)."""
    import pandas as pd
    from pyspark.sql.types import ArrayType, FloatType, IntegerType, StructField, StructType

    from .engines.spark import quiet_pandas_warning
    quiet_pandas_warning()
    schema = StructType([StructField("features", ArrayType(FloatType(), False), False),
                         StructField("label", IntegerType(), False)])
    parts = []
    for i in range(0, len(X), rows_per_slice):
        pdf = pd.DataFrame({"features": list(np.asarray(X[i:i + rows_per_slice], np.float32)),
                            "label": np.asarray(y_idx[i:i + rows_per_slice], np.int32)})
        parts.append(spark.createDataFrame(pdf, schema))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionAll(p)
    return out


def sklearn_model(coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str], C: float = DEFAULT_C) -> Pipeline:
    """The pipeline :func:`irbis.train.make_classifier` fits (scaler, logistic regression), holding
    Spark's coefficients: the scaler is the identity (Spark's coefficients are on the original
    feature scale), so ``predict_proba`` is scikit-learn's own code on Spark's numbers."""
    d = coef.shape[1]
    scaler = StandardScaler(with_mean=False, with_std=False)
    scaler.n_features_in_, scaler.n_samples_seen_ = d, 0
    scaler.mean_ = scaler.var_ = scaler.scale_ = None
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=MAX_ITER)
    clf.classes_ = np.array(list(classes))
    clf.coef_ = np.asarray(coef, dtype=np.float64)
    clf.intercept_ = np.asarray(intercept, dtype=np.float64)
    clf.n_features_in_ = d
    clf.n_iter_ = np.array([0])
    return Pipeline([("standardscaler", scaler), ("logisticregression", clf)])


def fit_on_spark(spark, X: np.ndarray, y: np.ndarray, classes: Sequence[str], C: float = DEFAULT_C) -> Pipeline:
    """Rows ``X`` with labels ``y`` (class names) -> a scikit-learn pipeline fitted by Spark ML."""
    classes = list(classes)
    y_idx = np.array([classes.index(c) for c in y])
    coef, intercept = fit_dataframe(features_dataframe(spark, X, y_idx), len(classes), C)
    return sklearn_model(coef, intercept, classes, C)
