"""Build and write the segment tables: membership, per-segment summary and persona profiles.

Membership is written with ``replaceWhere snapshot_date = ...`` so each snapshot is one atomic, re-runnable Delta
commit; earlier snapshots stay in the table and every rewrite stays in the Delta history (time travel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import write_table
from seglib.modeling.personas import Persona
from seglib.tables import Warehouse, table

PROFILES = table("segments", "segment_profiles")


def cluster_membership(
    assigned: DataFrame,
    segments: DataFrame,
    as_of: date,
    model_name: str,
    model_version: str,
    run_id: str,
    now: datetime,
) -> DataFrame:
    """subject_id + cluster_id [+ max_probability] and the k-row lookup cluster_id -> segment_id, segment_name
    -> the membership schema (broadcast join: the lookup is tiny)."""
    probability = F.col("max_probability") if "max_probability" in assigned.columns else F.lit(None)
    return assigned.join(F.broadcast(segments), "cluster_id").select(
        "subject_id",
        F.lit(as_of).cast("date").alias("snapshot_date"),
        F.lit("cluster").alias("segment_type"),
        "segment_id",
        "segment_name",
        probability.cast("double").alias("membership_probability"),
        F.lit(model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.lit(now).cast("timestamp").alias("assigned_at"),
    )


def segment_summary(membership: DataFrame, min_segment_size: int, min_segment_share: float = 0.0) -> DataFrame:
    """Per segment: size, share of the snapshot, and whether it meets the size floors for activation."""
    from pyspark.sql.window import Window

    total = Window.partitionBy("snapshot_date", "segment_type")
    return (
        membership.groupBy("snapshot_date", "segment_type", "segment_id", "segment_name", "run_id")
        .agg(F.count("*").alias("size"))
        .withColumn("share", F.round(F.col("size") / F.sum("size").over(total), 4))
        .withColumn(
            "meets_min_size",
            (F.col("size") >= F.lit(min_segment_size))
            & (F.col("size") / F.sum("size").over(total) >= F.lit(min_segment_share)),
        )
    )


def profiles_frame(
    spark: SparkSession,
    personas: Sequence[Persona],
    population_mean: Mapping[str, float | None],
    as_of: date,
    model_name: str,
    model_version: str,
    run_id: str,
) -> DataFrame:
    """The segment_profiles rows of one snapshot (k rows built on the driver from k x d aggregates)."""
    rows = [
        (
            as_of,
            p.segment_id,
            p.segment_name,
            p.size,
            p.share,
            p.is_new,
            p.below_min_size,
            p.source_clusters,
            p.centroid,
            p.z_scores,
            p.top_features,
            p.description(population_mean),
            model_name,
            model_version,
            run_id,
        )
        for p in personas
    ]
    return spark.createDataFrame(rows, PROFILES.schema)


def write_segments(
    membership: DataFrame, summary: DataFrame, tables: Warehouse, as_of: date, profiles: DataFrame | None = None
) -> dict[str, str]:
    """Write one snapshot of membership, summary (and profiles) atomically per table; returns their locations."""
    where = f"snapshot_date = DATE'{as_of.isoformat()}'"
    specs = {
        "segment_membership": (membership, tables.spec("segments/segment_membership")),
        "segment_summary": (summary, tables.spec("segments/segment_summary")),
    }
    if profiles is not None:
        specs["segment_profiles"] = (profiles, tables.spec(PROFILES))
    for df, spec in specs.values():
        write_table(df, spec, mode="overwrite", replace_where=where)
    return {name: spec.location for name, (_, spec) in specs.items()}
