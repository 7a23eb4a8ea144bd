"""Publish one snapshot of cluster segments from a fitted model's assignments.

Independent of how the model was fitted: the input is the assignments (subject_id, cluster_id [, max_probability])
and the feature table. Steps: too-small clusters are merged or flagged; clusters are matched to the previous
snapshot's segments so ids and names persist; personas are described; subjects left out of the clustering (too
little data) get the segment a classifier trained on the clustered subjects predicts, or the fallback segment;
models/cluster_assignments and models/cluster_profiles are written (one replaceWhere commit each) and the persona
cards are logged to the model's MLflow run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import read_table, table_exists
from seglib.modeling.personas import (
    Persona,
    numeric_feature_columns,
    persona_card,
    persona_names,
    personas_for,
    segment_stats,
    standardise,
)
from seglib.segments.min_size import apply_plan, plan_min_size
from seglib.segments.publish import cluster_membership, profiles_frame, write_cluster_snapshot
from seglib.segments.stable_ids import SegmentMatch, previous_segments, stable_segment_ids
from seglib.tables import Warehouse, table

if TYPE_CHECKING:  # pragma: no cover
    from seglib.pipeline import RunContext

log = logging.getLogger(__name__)


@dataclass
class PublishedSnapshot:
    """What a publication did: tables written, personas, id matching, merges and flags."""

    tables: dict[str, str]
    personas: list[Persona]
    ids: SegmentMatch
    merged: dict[int, int] = field(default_factory=dict)  # raw cluster -> cluster it was merged into
    flagged: list[str] = field(default_factory=list)  # segment ids published below the minimum size
    sparse: SparsePlacement | None = None  # how the subjects left out of the clustering were placed

    @property
    def names(self) -> dict[str, str]:
        return {p.segment_id: p.segment_name for p in self.personas}

    def report(self) -> dict[str, Any]:
        return {
            "segments": [
                {"segment_id": p.segment_id, "segment_name": p.segment_name, "size": p.size, "share": p.share}
                for p in self.personas
            ],
            "ids": self.ids.report(),
            "merged": {str(k): v for k, v in sorted(self.merged.items())},
            "flagged": self.flagged,
            "sparse": None if self.sparse is None else self.sparse.report(),
        }


@dataclass(frozen=True)
class SparsePlacement:
    """The segment classifier's part of a snapshot: its holdout figures, registration and how many subjects it
    placed (``sources``: classifier | fallback -> subjects)."""

    metrics: dict[str, float]
    usable: bool
    reason: str
    model_name: str | None
    model_version: str | None
    sources: dict[str, int]

    def report(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "usable": self.usable,
            "reason": self.reason,
            "model": f"{self.model_name} v{self.model_version}" if self.model_name else None,
            "subjects": self.sources,
        }


def publishing_model(cfg: SeglibConfig, model, feature_cols: list[str], logged: dict[str, Any]):
    """The model whose assignments get published: the new fit if it became champion, else the current champion
    (a challenger is registered and reported, but does not change the published segments).

    Returns (PipelineModel, feature columns, ``logged`` with model_version set to the publishing version).
    """
    from seglib.tracking import CHAMPION, load_champion

    if logged.get("alias", CHAMPION) == CHAMPION:
        return model, feature_cols, logged
    champion, champion_features, version = load_champion(cfg)
    log.warning("new fit is only the challenger (%s); publishing with champion v%s", logged.get("gate_reason"), version)
    return (
        champion,
        champion_features,
        {**logged, "model_version": version, "alias": CHAMPION, "challenger_version": logged["model_version"]},
    )


def _check_assignments(assignments: DataFrame) -> None:
    missing = {"subject_id", "cluster_id"} - set(assignments.columns)
    if missing:
        raise ValueError(f"cluster assignments lack column(s) {sorted(missing)}; got {assignments.columns}")


def previous_profile_z(
    spark: SparkSession, tables: Warehouse, snapshot_date, mean: dict, std: dict
) -> dict[str, dict[str, float]]:
    """The previous snapshot's segment centroids, standardised with this snapshot's population (k rows)."""
    location = tables.location("models/cluster_profiles")
    if snapshot_date is None or not table_exists(spark, location):
        return {}
    rows = read_table(spark, location).where(f"snapshot_date = DATE'{snapshot_date.isoformat()}'").collect()
    return {r["segment_id"]: standardise(r["centroid"], mean, std) for r in rows}


def publish_snapshot(
    spark: SparkSession,
    cfg: SeglibConfig,
    ctx: RunContext,
    assignments: DataFrame,
    features: DataFrame,
    model: dict[str, str],
    sparse: DataFrame | None = None,
) -> PublishedSnapshot:
    """Turn one snapshot's cluster assignments into published segments.

    ``model`` holds model_name, model_version and mlflow_run_id (as returned by ``tracking.log_clustering``); the
    persona cards go to that run. ``features`` is the snapshot's feature table of the clustered subjects (one row per
    subject); ``sparse`` the feature rows of the subjects left out of the clustering, placed by the classifier.
    """
    from seglib.tracking import log_segment_publication

    _check_assignments(assignments)
    seg = cfg.segments
    tables = Warehouse.of(cfg)
    feature_cols = seg.profile_features or numeric_feature_columns(features)
    unknown = sorted(set(feature_cols) - set(features.columns))
    if unknown:
        raise ValueError(f"segments.profile_features not in the feature table: {unknown}")

    raw = segment_stats(assignments, features, "cluster_id", feature_cols)
    plan = plan_min_size(
        raw.sizes,
        {c: raw.z_scores(c) for c in raw.sizes},
        seg.min_segment_size,
        seg.min_segment_share,
        seg.small_segment_policy,
    )
    assigned = apply_plan(assignments, plan)
    stats = segment_stats(assigned, features, "cluster_id", feature_cols) if plan.target else raw

    membership_location = tables.location("models/cluster_assignments")
    membership = read_table(spark, membership_location) if table_exists(spark, membership_location) else None
    previous = previous_segments(membership, ctx.as_of)
    fallback = (
        {c: stats.z_scores(c) for c in stats.sizes},
        previous_profile_z(spark, tables, previous.snapshot_date, stats.population_mean, stats.population_std),
    )
    match = stable_segment_ids(
        assigned,
        stats.sizes,
        membership,
        ctx.as_of,
        seg.id_match_min_jaccard,
        centroid_fallback=fallback,
        max_distance=seg.id_match_max_distance,
    )

    largest_first = sorted(match.new_clusters, key=lambda c: (-stats.sizes[c], c))
    new_names = persona_names(
        {c: stats.z_scores(c) for c in largest_first}, largest_first, reserved=match.inherited_names.values()
    )
    names = {**match.inherited_names, **new_names}
    # A matched segment whose old name was empty gets a generated one too.
    unnamed = [c for c in stats.sizes if c not in names]
    names |= persona_names({c: stats.z_scores(c) for c in unnamed}, unnamed, reserved=names.values())
    personas = personas_for(
        stats,
        match.ids,
        names,
        seg.profile_top_features,
        new_groups=match.new_clusters,
        small_groups=plan.small,
        sources=plan.sources(list(raw.sizes)),
    )

    lookup_rows = [(c, match.ids[c], names[c]) for c in sorted(stats.sizes)]
    lookup = spark.createDataFrame(lookup_rows, "cluster_id int, segment_id string, segment_name string")
    rows = cluster_membership(
        assigned, lookup, ctx.as_of, model["model_name"], model["model_version"], ctx.run_id, ctx.now
    )
    placement = None
    if sparse is not None:
        cluster_model = f"{model['model_name']} v{model['model_version']}"
        segment_names = {match.ids[c]: names[c] for c in names}
        placed, placement = place_sparse(cfg, ctx, rows, features, sparse, segment_names, cluster_model)
        rows = rows.unionByName(placed)
    profiles = profiles_frame(
        spark, personas, stats.population_mean, ctx.as_of, model["model_name"], model["model_version"], ctx.run_id
    )
    locations = write_cluster_snapshot(rows, profiles, tables, ctx.as_of)
    published = PublishedSnapshot(
        tables=locations,
        personas=personas,
        ids=match,
        merged=dict(plan.target),
        flagged=[match.ids[c] for c in plan.small],
        sparse=placement,
    )
    if model.get("mlflow_run_id"):
        card = persona_card(personas, stats.population_mean, f"Segments of snapshot {ctx.as_of.isoformat()}")
        log_segment_publication(cfg, model["mlflow_run_id"], card, published.report())
    return published


def place_sparse(
    cfg: SeglibConfig,
    ctx: RunContext,
    clustered: DataFrame,
    features: DataFrame,
    sparse: DataFrame,
    names: dict[str, str],
    cluster_model: str,
) -> tuple[DataFrame, SparsePlacement]:
    """Train the segment classifier on the clustered subjects' published segments (features -> segment_id), register
    it (``cluster_model`` names the model whose segments it learned), and place the sparse subjects: its prediction
    when confident enough, else the fallback segment. Returns their cluster_assignments rows and what happened."""
    from seglib.modeling.segment_classifier import classify_sparse, fit_segment_classifier
    from seglib.tracking import log_segment_classifier

    seg = cfg.segments
    columns = list(seg.classifier.features or cfg.clustering.features)
    unknown = sorted(set(columns) - set(features.columns))
    if unknown:
        raise ValueError(f"segments.classifier.features not in the feature table: {unknown}")
    fit, logged = None, {"model_name": None, "model_version": None}
    if sparse.isEmpty():  # nobody to place: no classifier to train or register
        empty = SparsePlacement({}, False, "no sparse subject in the snapshot", None, None, {})
        return sparse.sparkSession.createDataFrame([], table("models", "cluster_assignments").schema), empty
    if seg.classifier.enabled:
        # A feature without a value among the clustered subjects cannot be imputed: left out (one aggregation).
        present = features.agg(*[F.count(c).alias(c) for c in columns]).first().asDict()
        columns = [c for c in columns if present[c]]
        labelled = clustered.select("subject_id", "segment_id").join(
            features.select("subject_id", *columns), "subject_id"
        )
        fit = fit_segment_classifier(labelled, columns, seg.classifier)
        logged = log_segment_classifier(cfg, fit, cluster_model)
        log.info("segment classifier: holdout %s -> %s", fit.metrics, fit.reason)
    threshold = seg.classifier.confidence_threshold
    predicted = classify_sparse(fit, sparse.select("subject_id", *columns), threshold, seg.fallback_segment_id)
    lookup = {**names, seg.fallback_segment_id: seg.fallback_segment_name}
    name_of = F.create_map(*[F.lit(v) for pair in sorted(lookup.items()) for v in pair])
    rows = predicted.select(
        "subject_id",
        F.lit(ctx.as_of).cast("date").alias("snapshot_date"),
        "segment_id",
        name_of[F.col("segment_id")].alias("segment_name"),
        "assignment_source",
        F.col("confidence").cast("double").alias("confidence"),
        F.lit(logged["model_name"]).cast("string").alias("model_name"),
        F.lit(logged["model_version"]).cast("string").alias("model_version"),
        F.lit(ctx.run_id).alias("run_id"),
        F.lit(ctx.now).cast("timestamp").alias("assigned_at"),
    ).localCheckpoint()  # counted here and written next: predicted once
    sources = {
        r["assignment_source"]: int(r["n"])
        for r in rows.groupBy("assignment_source").agg(F.count("*").alias("n")).collect()
    }
    placement = SparsePlacement(
        metrics=dict(fit.metrics) if fit else {},
        usable=bool(fit and fit.usable),
        reason=fit.reason if fit else "segments.classifier.enabled is false",
        model_name=logged["model_name"],
        model_version=logged["model_version"],
        sources=sources,
    )
    return rows, placement


__all__ = ["PublishedSnapshot", "SparsePlacement", "publish_snapshot"]
