"""Stage ``segments``: every family combined into the published, versioned segment tables."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import current_version, read_table
from seglib.errors import MissingInputError
from seglib.run_types import FamilyCheck, RunContext, SegmentsResult
from seglib.tables import CLUSTER_FAMILY, Warehouse, table

log = logging.getLogger(__name__)


def stage_segments(
    spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, skipped: Sequence[FamilyCheck] = ()
) -> SegmentsResult:
    """Combine the snapshot's rule segments, cluster segments, propensity tiers and CLV brackets into the published
    segment tables (membership, history, transitions, definitions, profiles), every row with its lineage. Each input
    is read at one pinned Delta version, recorded in the lineage. A model family with no rows for the snapshot
    (``skipped`` says why, and is recorded in segment_publications) is published without: the rules need only the
    features."""
    from seglib.segments import assign as A
    from seglib.segments.history import PUBLICATIONS, publish_segments
    from seglib.segments.profiles import segment_profiles

    wh = Warehouse.of(cfg)
    versions: dict[str, int] = {}

    def pinned(name: str, snapshot: bool = True) -> DataFrame | None:
        location = wh.location(name)
        version = current_version(spark, location)
        if version is None:
            return None
        versions[name] = version
        df = read_table(spark, location, version=version)
        return df.where(F.col("snapshot_date") == F.lit(ctx.as_of)) if snapshot else df

    def or_empty(df: DataFrame | None, name: str) -> DataFrame:
        return df if df is not None else spark.createDataFrame([], table(*name.split("/")).schema)

    targets = list(cfg.propensity.targets)
    features = pinned("features/subject_features")
    if features is not None:
        A.check_rules(cfg, features, targets)
    if features is None or features.isEmpty():
        raise MissingInputError(f"no features for snapshot {ctx.as_of}: run `seg features` (or `seg run`) for it "
                                "first")  # fmt: skip
    clusters = or_empty(pinned("models/cluster_assignments"), "models/cluster_assignments")
    if clusters.isEmpty() and not any(c.family == CLUSTER_FAMILY for c in skipped):
        log.warning("segments of %s: no cluster segments for the snapshot (run `seg cluster`): published without "
                    "the cluster family", ctx.as_of)  # fmt: skip
    scores = or_empty(pinned("models/propensity_scores"), "models/propensity_scores")
    clv = or_empty(pinned("models/clv_predictions"), "models/clv_predictions")
    personas = or_empty(pinned("models/cluster_profiles"), "models/cluster_profiles")
    events = or_empty(pinned("silver/events", snapshot=False), "silver/events")
    orders = or_empty(pinned("silver/orders", snapshot=False), "silver/orders")
    models = {}
    for df in (clusters, scores, clv):
        for r in df.select("model_name", "model_version").distinct().collect():  # a few rows
            if r["model_name"]:
                models[r["model_name"]] = r["model_version"]
    lineage = A.Lineage(ctx.run_id, A.config_hash(cfg), versions, models)
    assignment = A.assign_segments(cfg, ctx.as_of, ctx.now, features, clusters, scores, clv, events, lineage, targets)
    rows = assignment.rows.localCheckpoint()  # read by the definitions, the profiles and every write

    definitions = [
        *A.rule_definitions(cfg, assignment.percentiles),
        *A.cluster_definitions(cfg, [r.asDict() for r in personas.collect()]),  # k rows
        *A.threshold_definitions(A.score_ranges(rows), cfg),
    ]
    definitions_df = A.definitions_frame(spark, definitions, ctx.as_of, lineage)
    profiles = A.profiles_frame(
        segment_profiles(rows, events, orders, ctx.as_of, cfg.segments), rows, definitions_df, ctx.as_of, lineage
    )
    publication = publish_segments(
        spark, wh, ctx.as_of, rows, definitions_df, profiles, A.exclusive_families(cfg, targets), lineage, ctx.now,
        skipped=[(c.family, c.status, c.reason) for c in skipped],
    )  # fmt: skip
    sizes = [
        r.asDict()
        for r in read_table(spark, wh.location("segments/segment_profiles"))
        .where(F.col("snapshot_date") == F.lit(ctx.as_of))
        .select("segment_family", "segment_id", "segment_name", "size", "share", "meets_min_size")
        .orderBy("segment_family", F.desc("size"), "segment_id")
        .collect()  # one row per segment
    ]
    names = ("segment_membership", "segment_membership_history", "segment_transitions", "segment_definitions",
             "segment_profiles", PUBLICATIONS.name)  # fmt: skip
    return SegmentsResult(
        ctx.as_of,
        publication.previous_snapshot_date,
        publication.subjects,
        publication.transitions,
        publication.table_versions,
        assignment.percentiles,
        sizes,
        {n: wh.location(f"segments/{n}") for n in names},
    )
