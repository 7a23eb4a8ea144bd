"""Cluster subjects with MLlib (KMeans / BisectingKMeans / GMM), choosing k by silhouette with the elbow curve logged.

The fitted object is one ``PipelineModel`` (imputation -> assembly -> scaling -> clustering) so that the exact
preprocessing travels with the model into MLflow and scoring reuses it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import Imputer, SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.modeling import ClusteringConfig

log = logging.getLogger(__name__)

FEATURES_COL = "features_scaled"
CLUSTER_COL = "cluster_id"


@dataclass
class ClusteringResult:
    model: PipelineModel
    k: int
    feature_cols: list[str]
    silhouette_by_k: dict[int, float] = field(default_factory=dict)
    cost_by_k: dict[int, float] = field(default_factory=dict)

    @property
    def silhouette(self) -> float:
        return self.silhouette_by_k[self.k]


def _clusterer(cfg: ClusteringConfig, k: int):
    if cfg.algorithm == "kmeans":
        return KMeans(k=k, seed=cfg.seed, maxIter=cfg.max_iter, featuresCol=FEATURES_COL, predictionCol=CLUSTER_COL)
    if cfg.algorithm == "bisecting_kmeans":
        return BisectingKMeans(
            k=k, seed=cfg.seed, maxIter=cfg.max_iter, featuresCol=FEATURES_COL, predictionCol=CLUSTER_COL
        )
    return GaussianMixture(
        k=k, seed=cfg.seed, maxIter=cfg.max_iter, featuresCol=FEATURES_COL, predictionCol=CLUSTER_COL
    )


def preparation_stages(feature_cols: list[str], log_features: list[str] | tuple[str, ...] = ()) -> list:
    """log1p of heavy-tailed columns, median imputation, assembly and scaling: stages saved with the model."""
    imputed = [f"{c}__imputed" for c in feature_cols]
    logged = [c for c in feature_cols if c in set(log_features)]
    stages = []
    if logged:
        # Spend and counts are heavy-tailed: without compression a few whales dominate squared distances.
        replace = ", ".join(f"log1p(greatest(`{c}`, 0D)) AS `{c}`" for c in logged)
        stages.append(
            SQLTransformer(
                statement=f"SELECT * EXCEPT ({', '.join(f'`{c}`' for c in logged)}), {replace} FROM __THIS__"
            )
        )
    return [
        *stages,
        Imputer(inputCols=feature_cols, outputCols=imputed, strategy="median"),
        VectorAssembler(inputCols=imputed, outputCol="features_raw", handleInvalid="keep"),
        # Not mean-centred: BisectingKMeans splits a centre by a multiplicative perturbation, which cannot split a
        # centre at the origin. Translation does not change KMeans/GMM fits; personas re-centre (see personas.py).
        StandardScaler(inputCol="features_raw", outputCol=FEATURES_COL, withMean=False, withStd=True),
    ]


def _cost(model: PipelineModel) -> float:
    stage = model.stages[-1]
    summary = getattr(stage, "summary", None)
    if summary is not None and hasattr(summary, "trainingCost"):
        return float(summary.trainingCost)
    if summary is not None and hasattr(summary, "logLikelihood"):
        return -float(summary.logLikelihood)
    return float("nan")


def fit_clustering(features: DataFrame, cfg: ClusteringConfig) -> ClusteringResult:
    """Fit one model per k in [k_min, k_max] and keep the best silhouette (ties: smaller k).

    The input is cast to double once; it is cached because every k scans it again.
    """
    feature_cols = [c for c in cfg.features if c in features.columns]
    missing = sorted(set(cfg.features) - set(feature_cols))
    if missing:
        raise ValueError(f"clustering.features not in the feature table: {missing}")
    data = features.select("subject_id", *[F.col(c).cast("double").alias(c) for c in feature_cols]).cache()
    evaluator = ClusteringEvaluator(featuresCol=FEATURES_COL, predictionCol=CLUSTER_COL, metricName="silhouette")
    silhouettes: dict[int, float] = {}
    costs: dict[int, float] = {}
    models: dict[int, PipelineModel] = {}
    try:
        for k in range(cfg.k_min, cfg.k_max + 1):
            stages = [*preparation_stages(feature_cols, cfg.log_features), _clusterer(cfg, k)]
            model = Pipeline(stages=stages).fit(data)
            scored = model.transform(data)
            silhouettes[k] = float(evaluator.evaluate(scored))
            costs[k] = _cost(model)
            models[k] = model
            log.info("k=%d silhouette=%.4f cost=%.2f", k, silhouettes[k], costs[k])
    finally:
        data.unpersist()
    best_k = max(silhouettes, key=lambda k: (round(silhouettes[k], 6), -k))
    return ClusteringResult(models[best_k], best_k, feature_cols, silhouettes, costs)


def assign_clusters(model: PipelineModel, features: DataFrame, feature_cols: list[str]) -> DataFrame:
    """subject_id + cluster_id (+ any other columns of ``features``) by applying the fitted pipeline."""
    casted = features.select(
        *[c for c in features.columns if c not in feature_cols],
        *[F.col(c).cast("double").alias(c) for c in feature_cols],
    )
    scored = model.transform(casted)
    return scored.select(*features.columns, F.col(CLUSTER_COL).cast("int").alias(CLUSTER_COL))
