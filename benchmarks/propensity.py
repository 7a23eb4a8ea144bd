"""Propensity benchmark: seglib's training (GBT chosen out of time + logistic baseline + calibration, judged on a
held-out cut-off) vs scikit-learn's ``HistGradientBoostingClassifier`` with the same grid on the same matrix.

The matrix is synthetic and generated directly in Spark: ``--propensity-rows`` subjects x ``--propensity-dims``
features over four cut-offs (three to train, the last held out), a label with a planted non-linear signal (an
interaction, a threshold and a smooth term of six features, plus logistic noise; ~20 % positives), the other
features noise. Same protocol on both sides, from the ``propensity`` config: balanced class weights, each setting
of the ``grid`` (depth, iterations, learning rate) fitted on the training cut-offs before the latest and judged on
the latest (scikit-learn: ``PredefinedSplit``), the best refitted on all of them, ROC-AUC on the held-out cut-off.
Spark's time is ``fit_target`` (its baseline and calibration fits included); scikit-learn gets NumPy arrays (export
untimed) and all cores.
"""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.clustering import _uniform

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from pyspark.sql import DataFrame, SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger("benchmarks.propensity")

CUTOFFS = (date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1), date(2025, 4, 1))  # the last one is held out
SIGNAL_DIMS = 6


def propensity_matrix(spark: SparkSession, rows: int, dims: int, seed: int) -> DataFrame:
    """subject_id, snapshot_date, f0..f{dims-1}, label: see the module doc."""
    import math

    from pyspark.sql import functions as F

    def normal(j: int):
        u1, u2 = _uniform(seed, F.col("id"), F.lit(2 * j)), _uniform(seed, F.col("id"), F.lit(2 * j + 1))
        return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)

    df = spark.range(rows).select(
        F.col("id").cast("string").alias("subject_id"),
        F.element_at(F.array(*[F.lit(c) for c in CUTOFFS]), (F.col("id") % len(CUTOFFS) + 1).cast("int")).alias(
            "snapshot_date"
        ),
        *[normal(j).alias(f"f{j}") for j in range(dims)],
        _uniform(seed, F.col("id"), F.lit(-7)).alias("_u"),
    )
    f = [F.col(f"f{j}") for j in range(SIGNAL_DIMS)]
    logit = (
        -2.2
        + 1.2 * f[0] * f[1]  # interaction: invisible to a linear model
        + 1.5 * F.when(f[2] > 0.5, 1.0).otherwise(0.0)  # threshold
        + 0.8 * F.sin(2.0 * f[3])  # smooth non-monotone
        + 0.6 * f[4]
        - 0.4 * f[5]
    )
    p = 1.0 / (1.0 + F.exp(-logit))
    return df.withColumn("label", F.when(F.col("_u") < p, 1.0).otherwise(0.0)).drop("_u")


def sklearn_fit(x_train, y_train, latest, x_holdout, y_holdout, cfg: Any, seed: int) -> tuple[float, float, dict]:
    """GridSearchCV over the same grid with balanced weights, validated on the rows of the latest training cut-off
    (``latest``, a boolean mask), as seglib; (seconds, holdout ROC-AUC, best params)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, PredefinedSplit

    grid = {
        "max_depth": cfg.grid.max_depth,
        "max_iter": cfg.grid.max_iter,
        "learning_rate": cfg.grid.step_size,
    }
    start = time.perf_counter()
    search = GridSearchCV(
        HistGradientBoostingClassifier(class_weight="balanced", early_stopping=False, random_state=seed),
        grid,
        cv=PredefinedSplit(np.where(latest, 0, -1)),
        scoring="roc_auc",
        n_jobs=1,  # HistGradientBoosting is OpenMP-parallel over all cores already
    )
    search.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    auc = float(roc_auc_score(y_holdout, search.predict_proba(x_holdout)[:, 1]))
    return seconds, auc, search.best_params_


def bench_propensity(spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, phases: Any) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from seglib.modeling import propensity as P

    rows, dims = args.propensity_rows, args.propensity_dims
    pcfg = cfg.propensity.model_copy(update={"features": [f"f{j}" for j in range(dims)], "min_positives": 1})
    with phases.timed("propensity_matrix (untimed in figures)"):
        data = propensity_matrix(spark, rows, dims, pcfg.seed).localCheckpoint()
        positives = data.agg(F.avg("label")).first()[0]
    train, holdout = data.where(F.col("snapshot_date") < CUTOFFS[-1]), data.where(F.col("snapshot_date") == CUTOFFS[-1])
    cutoffs = P.Cutoffs(training=CUTOFFS[:-1], holdout=CUTOFFS[-1])
    with phases.timed("spark_propensity"):
        fit = P.fit_target("bench", train, holdout, cutoffs, pcfg)
    columns = [f"f{j}" for j in range(dims)]
    with phases.timed("export_propensity_numpy (untimed in figures)"):
        # The harness, not the library: the reference needs the matrix in memory.
        def arrays(df: DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            pdf = df.select(*columns, "label", (F.col("snapshot_date") == F.lit(CUTOFFS[-2])).alias("_l")).toPandas()
            return pdf[columns].to_numpy(), pdf["label"].to_numpy(), pdf["_l"].to_numpy()

        x_train, y_train, latest = arrays(train)
        x_holdout, y_holdout, _ = arrays(holdout)
    with phases.timed("sklearn_propensity"):
        sk_seconds, sk_auc, sk_params = sklearn_fit(x_train, y_train, latest, x_holdout, y_holdout, pcfg, pcfg.seed)
    spark_seconds = phases.seconds["spark_propensity"]
    return {
        "propensity_rows": rows,
        "propensity_dims": dims,
        "propensity_positive_rate": positives,
        "propensity_spark_seconds": spark_seconds,
        "propensity_sklearn_seconds": sk_seconds,
        "propensity_spark_vs_sklearn": spark_seconds / sk_seconds,
        "propensity_spark_gbt_auc": fit.gbt.roc_auc,
        "propensity_spark_baseline_auc": fit.baseline.roc_auc,
        "propensity_sklearn_auc": sk_auc,
        "propensity_spark_best": fit.best_params,
        "propensity_sklearn_best": sk_params,
        "propensity_grid_fits": len(pcfg.grid.max_depth) * len(pcfg.grid.max_iter) * len(pcfg.grid.step_size),
    }


def propensity_rows(m: dict[str, Any], fmt: Any) -> list[tuple[str, str]]:
    if "propensity_rows" not in m:
        return []
    return [
        (
            "propensity matrix (rows x features, positive rate)",
            f"{fmt(m['propensity_rows'])} x {m['propensity_dims']}, {m['propensity_positive_rate']:.1%}",
        ),
        (
            "propensity training seconds: seglib (GBT chosen out of time, baseline, calibration) / scikit-learn HGB",
            f"{fmt(m['propensity_spark_seconds'])} / {fmt(m['propensity_sklearn_seconds'])} = "
            f"{fmt(m['propensity_spark_vs_sklearn'])}x",
        ),
        (
            "propensity holdout ROC-AUC: seglib GBT / seglib logistic / scikit-learn HGB",
            f"{m['propensity_spark_gbt_auc']:.4f} / {m['propensity_spark_baseline_auc']:.4f} / "
            f"{m['propensity_sklearn_auc']:.4f}",
        ),
    ]
