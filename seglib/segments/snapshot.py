"""Publish one snapshot of cluster segments from a fitted model's assignments.

Independent of how the model was fitted: the input is the assignments (subject_id, cluster_id [, max_probability])
and the feature table. Steps: too-small clusters are merged or flagged; clusters are matched to the previous
snapshot's segments so ids and names persist; personas are described; subjects left out of the clustering (too
little data) are placed by the caller's placer (the cluster stage's segment classifier, or the fallback segment);
models/cluster_assignments and models/cluster_profiles are written (one replaceWhere commit each) and the persona
cards are logged to the model's MLflow run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

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
from seglib.run_types import ModelRegistration, RunContext
from seglib.segments.min_size import apply_plan, plan_min_size
from seglib.segments.publish import cluster_membership, profiles_frame, write_cluster_snapshot
from seglib.segments.stable_ids import SegmentMatch, previous_segments, stable_segment_ids
from seglib.tables import Warehouse

# (the clustered subjects' membership rows, segment id -> name) -> (the sparse subjects' rows, how they were placed)
SparsePlacer = Callable[[DataFrame, dict[str, str]], tuple[DataFrame, "SparsePlacement"]]

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
    model: ModelRegistration,
    sparse: DataFrame | None = None,
    place_sparse: SparsePlacer | None = None,
) -> PublishedSnapshot:
    """Turn one snapshot's cluster assignments into published segments.

    ``model`` is the registered model whose assignments these are; the persona cards go to its MLflow run.
    ``features`` is the snapshot's feature table of the clustered subjects (one row per subject); ``sparse`` the
    feature rows of the subjects left out of the clustering, placed by ``place_sparse`` (given the clustered subjects'
    membership rows and segment id -> name; it returns the sparse subjects' rows and how they were placed) or, without
    one, not published.
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
    rows = cluster_membership(assigned, lookup, ctx.as_of, model.model_name, model.model_version, ctx.run_id, ctx.now)
    placement = None
    if sparse is not None and place_sparse is not None:
        placed, placement = place_sparse(rows, {match.ids[c]: names[c] for c in names})
        rows = rows.unionByName(placed)
    profiles = profiles_frame(
        spark, personas, stats.population_mean, ctx.as_of, model.model_name, model.model_version, ctx.run_id
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
    if model.mlflow_run_id:
        card = persona_card(personas, stats.population_mean, f"Segments of snapshot {ctx.as_of.isoformat()}")
        log_segment_publication(cfg, model.mlflow_run_id, card, published.report())
    return published


__all__ = ["PublishedSnapshot", "SparsePlacement", "SparsePlacer", "publish_snapshot"]
