"""Stage ``cluster``: fit, select k, register (gated), publish the snapshot's cluster segments."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import read_table
from seglib.errors import UntrainableError
from seglib.frames import first_row
from seglib.run_types import ClusterResult, ModelRegistration, RunContext
from seglib.segments.snapshot import SparsePlacement
from seglib.stages.inputs import read_features
from seglib.tables import table

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.ml import PipelineModel

log = logging.getLogger(__name__)

# Fewer subjects than this per cluster of clustering.k_min: no clustering is fitted (nothing to learn segments from).
MIN_SUBJECTS_PER_CLUSTER = 10


def split_sparse(features: DataFrame, sparse_when: str | None) -> tuple[DataFrame, DataFrame | None]:
    """(subjects to cluster, subjects with too little data for it): segments.sparse_when, a rule expression."""
    if sparse_when is None:
        return features, None
    from seglib.segments.rules import expression_column

    sparse = expression_column(features, sparse_when, "segments.sparse_when")
    return features.where(~sparse), features.where(sparse)


def stage_cluster(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> ClusterResult:
    """Fit clusterings over the k range on the subjects with enough data, pick k, log + register the pipeline in
    MLflow (champion only if it passes the gate), publish the snapshot's cluster segments (stable ids, minimum size,
    personas); the subjects with too little data are placed by the segment classifier or the fallback."""
    from seglib.modeling.clustering import assign_clusters, fit_clustering
    from seglib.segments.snapshot import publish_snapshot
    from seglib.tracking import log_clustering

    features, sparse = split_sparse(read_features(spark, cfg, ctx.as_of), cfg.segments.sparse_when)
    subjects, least = features.count(), MIN_SUBJECTS_PER_CLUSTER * cfg.clustering.k_min
    if subjects < least:
        raise UntrainableError(
            f"cluster: {subjects} subjects to cluster at {ctx.as_of} (segments.sparse_when left out); at least "
            f"{MIN_SUBJECTS_PER_CLUSTER} per cluster of clustering.k_min needed"
        )
    result = fit_clustering(features, cfg.clustering)
    registered = log_clustering(cfg, ctx, result)
    model, feature_cols, published_by = publishing_model(cfg, result.model, result.feature_cols, registered)
    assigned = assign_clusters(model, features.select("subject_id", *feature_cols)).withColumnRenamed(
        "cluster_probability", "max_probability"
    )
    placer = SegmentClassifierPlacer(cfg, ctx, features, sparse, published_by) if sparse is not None else None
    published = publish_snapshot(spark, cfg, ctx, assigned, features, published_by, sparse=sparse, place_sparse=placer)
    return ClusterResult(
        model_name=published_by.model_name,
        model_version=published_by.model_version,
        mlflow_run_id=registered.mlflow_run_id,
        alias=registered.alias,
        gate_reason=registered.gate_reason,
        k=result.k,
        silhouette=result.silhouette,
        personas=published.names,
        segments=published.report(),
        tables=published.tables,
        selection_reason=result.selection.reason,
        dropped_features=result.dropped_features,
        sparse_subjects=sparse is not None,
    )


def publishing_model(
    cfg: SeglibConfig, model: PipelineModel, feature_cols: list[str], registered: ModelRegistration
) -> tuple[PipelineModel, list[str], ModelRegistration]:
    """The model whose assignments get published: the new fit if it became champion, else the current champion
    (a challenger is registered and reported, but does not change the published segments). Returns the fitted
    pipeline, its feature columns and its registration (the persona cards still go to the new fit's MLflow run)."""
    from seglib.tracking import CHAMPION, load_champion

    if registered.alias == CHAMPION:
        return model, feature_cols, registered
    champion, champion_features, version = load_champion(cfg)
    log.warning("new fit is only the challenger (%s); publishing with champion v%s", registered.gate_reason, version)
    return champion, champion_features, replace(registered, model_version=version, alias=CHAMPION)


class SegmentClassifierPlacer:
    """Places the subjects left out of the clustering: trains the segment classifier on the clustered subjects'
    published segments (features -> segment_id), registers it (tagged with the clustering model whose segments it
    learned), and gives each sparse subject its prediction when confident enough, else the fallback segment."""

    def __init__(
        self, cfg: SeglibConfig, ctx: RunContext, features: DataFrame, sparse: DataFrame, model: ModelRegistration
    ):
        self.cfg, self.ctx, self.features, self.sparse, self.model = cfg, ctx, features, sparse, model

    def __call__(self, clustered: DataFrame, names: dict[str, str]) -> tuple[DataFrame, SparsePlacement]:
        from seglib.modeling.segment_classifier import classify_sparse, fit_segment_classifier
        from seglib.tracking import log_segment_classifier

        cfg, ctx, features, sparse = self.cfg, self.ctx, self.features, self.sparse
        seg = cfg.segments
        columns = list(seg.classifier.features or cfg.clustering.features)
        unknown = sorted(set(columns) - set(features.columns))
        if unknown:
            raise ValueError(f"segments.classifier.features not in the feature table: {unknown}")
        assignments = table("models", "cluster_assignments")
        if sparse.isEmpty():  # nobody to place: no classifier to train or register
            empty = SparsePlacement({}, False, "no sparse subject in the snapshot", None, None, {})
            return sparse.sparkSession.createDataFrame([], assignments.schema), empty
        fit = registered = None
        if seg.classifier.enabled:
            # A feature without a value among the clustered subjects cannot be imputed: left out (one aggregation).
            present = first_row(features.agg(*[F.count(c).alias(c) for c in columns])).asDict()
            columns = [c for c in columns if present[c]]
            labelled = clustered.select("subject_id", "segment_id").join(
                features.select("subject_id", *columns), "subject_id"
            )
            fit = fit_segment_classifier(labelled, columns, seg.classifier)
            registered = log_segment_classifier(cfg, fit, f"{self.model.model_name} v{self.model.model_version}")
            log.info("segment classifier: holdout %s -> %s", fit.metrics, fit.reason)
        threshold = seg.classifier.confidence_threshold
        predicted = classify_sparse(fit, sparse.select("subject_id", *columns), threshold, seg.fallback_segment_id)
        lookup = {**names, seg.fallback_segment_id: seg.fallback_segment_name}
        name_of = F.create_map(*[F.lit(v) for pair in sorted(lookup.items()) for v in pair])
        constants = {
            "snapshot_date": F.lit(ctx.as_of),
            "segment_name": name_of[F.col("segment_id")],
            "model_name": F.lit(registered.model_name if registered else None),
            "model_version": F.lit(registered.model_version if registered else None),
            "run_id": F.lit(ctx.run_id),
            "assigned_at": F.lit(ctx.now),
        }
        rows = assignments.conform(predicted, constants).localCheckpoint()  # counted here and written next
        sources = {
            r["assignment_source"]: int(r["n"])
            for r in rows.groupBy("assignment_source").agg(F.count("*").alias("n")).collect()
        }
        placement = SparsePlacement(
            metrics=dict(fit.metrics) if fit else {},
            usable=bool(fit and fit.usable),
            reason=fit.reason if fit else "segments.classifier.enabled is false",
            model_name=registered.model_name if registered else None,
            model_version=registered.model_version if registered else None,
            sources=sources,
        )
        return rows, placement


def planted_truth_scores_of(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, cluster: ClusterResult):
    """Synthetic data only (a raw/planted_truth table exists): how well the published cluster segments recover the
    generator's planted ones, over the clustered subjects (the clustering's figure) and, when some subjects were
    placed by the classifier or the fallback, over every subject; logged to the fit's MLflow run. {} without truth."""
    from seglib.modeling.truth import planted_truth_scores
    from seglib.tracking import log_truth_scores

    snapshot = read_table(spark, cluster.tables["cluster_assignments"]).where(
        F.col("snapshot_date") == F.lit(ctx.as_of)
    )
    clustered = planted_truth_scores(spark, cfg, snapshot.where(F.col("assignment_source") == "cluster"), "segment_id")
    if not clustered:
        return {}
    truth = {k: clustered[k] for k in ("ari", "nmi", "subjects")}
    if cluster.sparse_subjects:
        everyone = planted_truth_scores(spark, cfg, snapshot, "segment_id")
        if everyone is not None:  # None only without raw/planted_truth, which ``clustered`` just read
            truth |= {f"{k}_all_subjects": everyone[k] for k in ("ari", "nmi", "subjects")}
    log.info("planted truth: %s", truth)
    log_truth_scores(cfg, cluster.mlflow_run_id, truth)
    return truth
