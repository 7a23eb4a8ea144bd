"""Cluster subjects: one Spark ML ``PipelineModel`` = feature space stages + ``SegmentSelectorModel``.

The feature space (seglib.modeling.feature_space) is fitted once; the selector (seglib.modeling.selection) fits the
k grid on a sample of the transformed vectors, chooses k and refits it on all rows. Scoring applies the same
PipelineModel to the raw feature table, so the exact preprocessing travels with the model into MLflow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import cast

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.modeling import ClusteringConfig
from seglib.modeling.feature_space import FEATURES_COL, FeatureColumns, feature_space_stages, inspect_features
from seglib.modeling.row_order import canonical_order
from seglib.modeling.selection import SegmentSelector, SegmentSelectorModel, SelectionSummary

log = logging.getLogger(__name__)

CLUSTER_COL = "cluster_id"
PROBABILITY_VECTOR_COL = "cluster_probability_vector"


@dataclass
class ClusteringResult:
    """The fitted pipeline, the columns it uses, the features it dropped (and why), and the selection of k."""

    model: PipelineModel
    columns: FeatureColumns
    selection: SelectionSummary
    dropped_features: dict[str, str] = field(default_factory=dict)
    count_cols: list[str] = field(default_factory=list)  # read by the share smoothing only (not in the vector)

    @property
    def k(self) -> int:
        return self.selection.chosen_k

    @property
    def feature_cols(self) -> list[str]:
        """Every column the model reads."""
        return [*self.columns.all, *[c for c in self.count_cols if c not in self.columns.all]]

    @property
    def vector_names(self) -> list[str]:
        return self.columns.vector_names

    @property
    def silhouette_by_k(self) -> dict[int, float]:
        return self.selection.by_k("silhouette")

    @property
    def cost_by_k(self) -> dict[int, float]:
        return self.selection.by_k("cost")

    @property
    def stability_by_k(self) -> dict[int, float]:
        return self.selection.by_k("stability")

    @property
    def silhouette(self) -> float:
        """The published model's silhouette: in the full space, also when k was chosen in a reduced one."""
        if self.selection.final_silhouette is not None:
            return self.selection.final_silhouette
        return self.silhouette_by_k[self.k]


def selector(cfg: ClusteringConfig) -> SegmentSelector:
    return SegmentSelector(
        featuresCol=FEATURES_COL,
        predictionCol=CLUSTER_COL,
        probabilityCol=PROBABILITY_VECTOR_COL,
        seed=cfg.seed,
        maxIter=cfg.max_iter,
        algorithm=cfg.algorithm,
        kMin=cfg.k_min,
        kMax=cfg.k_max,
        seedsPerK=cfg.seeds_per_k,
        sampleSize=cfg.sample_size,
        stabilityResamples=cfg.stability_resamples,
        stabilityFraction=cfg.stability_fraction,
        silhouetteSampleSize=cfg.silhouette_sample_size,
        criterion=cfg.criterion,
        stabilityThreshold=cfg.stability_threshold,
        silhouetteToleranceSE=cfg.silhouette_tolerance_se,
        minClusterShare=cfg.min_cluster_share,
        parallelism=cfg.parallelism,
        selectionMinEigenvalue=cfg.selection_min_eigenvalue,
    )


def smoothing_counts(cfg: ClusteringConfig) -> list[str]:
    """The count columns the share smoothing reads (those of shares the model uses)."""
    if cfg.share_pseudo_count <= 0:
        return []
    return sorted(c for c, shares in cfg.smoothed_shares.items() if set(shares) & set(cfg.features))


def fit_clustering(features: DataFrame, cfg: ClusteringConfig) -> ClusteringResult:
    """Fit the feature space once and the k selection on it; all-null or constant features are dropped (logged)."""
    counts = smoothing_counts(cfg)
    wanted = [*cfg.features, *cfg.categorical_features, *counts]
    missing = sorted(set(wanted) - set(features.columns))
    if missing:
        raise ValueError(f"clustering features or share counts not in the feature table: {missing}")
    columns, dropped = inspect_features(features, list(cfg.features), list(cfg.categorical_features))
    for name, reason in dropped.items():
        log.warning("clustering: feature %s dropped from the model (%s in this snapshot)", name, reason)
    if not columns.all:
        raise ValueError(f"clustering: no usable feature left (dropped: {dropped})")
    if cfg.pca_components and cfg.pca_components > len(columns.vector_names):
        raise ValueError(
            f"clustering.pca_components ({cfg.pca_components}) exceeds the {len(columns.vector_names)} dimensions"
        )
    stages = [*feature_space_stages(columns, cfg), selector(cfg)]
    # In an order fixed by the feature values, not by the pseudonyms: the Imputer's medians (approximate quantiles)
    # and everything fitted after them are then the same whatever the key. Cached, so the stages are planned on the
    # cached relation (planning them over the ordering's plan exhausted Catalyst's constraint propagation).
    used = [*columns.all, *[c for c in counts if c not in columns.all]]
    rows = canonical_order(features.select(*used), used).cache()
    try:
        model = Pipeline(stages=stages).fit(rows)
    finally:
        rows.unpersist()
    return ClusteringResult(model, columns, selector_model(model).selection_summary(), dropped, counts)


def selector_model(model: PipelineModel) -> SegmentSelectorModel:
    """The clustering pipeline's last stage: the SegmentSelector's model (``stages`` is typed as Transformers)."""
    return cast(SegmentSelectorModel, model.stages[-1])


def assign_clusters(model: PipelineModel, features: DataFrame, feature_cols: list[str] | None = None) -> DataFrame:
    """The columns of ``features`` + cluster_id, and for GMM each subject's membership probabilities.

    ``cluster_probability`` is the probability of the assigned cluster (null for the hard KMeans family);
    ``cluster_probabilities`` the whole vector indexed by cluster_id, so downstream rules can require confidence.
    """
    scored = model.transform(features)
    if PROBABILITY_VECTOR_COL in scored.columns:
        vector = vector_to_array(F.col(PROBABILITY_VECTOR_COL))
        probabilities, top = vector, F.array_max(vector)
    else:
        probabilities, top = F.lit(None).cast("array<double>"), F.lit(None).cast("double")
    return scored.select(
        *features.columns,
        F.col(CLUSTER_COL).cast("int").alias(CLUSTER_COL),
        top.alias("cluster_probability"),
        probabilities.alias("cluster_probabilities"),
    )
