"""Build and write the segment tables: membership, per-segment summary and persona profiles.

Membership is written with ``replaceWhere snapshot_date = ...`` so each snapshot is one atomic, re-runnable Delta
commit; earlier snapshots stay in the table and every rewrite stays in the Delta history (time travel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import Tables, write_table
from seglib.modeling.personas import Persona

MEMBERSHIP_COMMENTS = {
    "subject_id": "Pseudonymous subject key (keyed HMAC; see docs/privacy.md).",
    "snapshot_date": "Date the segments describe; only data before 00:00 UTC of this day was used.",
    "segment_type": "cluster | rule | propensity",
    "segment_id": "Identifier of the segment within its type, stable across snapshots: a re-fit's cluster inherits "
    "the id of the previous snapshot's segment it shares most members with; new segments get ids never used before.",
    "segment_name": "Human-readable persona or rule name (kept with the id across snapshots).",
    "membership_probability": "Mixture models: the subject's probability of its cluster (null for hard clusterings, "
    "rules, and subjects moved by a small-segment merge).",
    "model_name": "Registered MLflow model that produced the assignment (null for rules).",
    "model_version": "Registered model version.",
    "run_id": "seglib run id that wrote the row (joins to the MLflow run tag seglib.run_id).",
    "assigned_at": "When the assignment was computed (UTC).",
}


PROFILE_COMMENTS = {
    "snapshot_date": MEMBERSHIP_COMMENTS["snapshot_date"],
    "segment_id": MEMBERSHIP_COMMENTS["segment_id"],
    "segment_name": MEMBERSHIP_COMMENTS["segment_name"],
    "size": "Subjects in the segment.",
    "share": "size / subjects in the snapshot.",
    "is_new": "True when the segment got a fresh id: no segment of the previous snapshot matched it (or none existed).",
    "below_min_size": "True when published under segments.small_segment_policy=flag below the minimum size.",
    "source_clusters": "Cluster numbers of this fit that form the segment (more than one after a small-segment merge).",
    "centroid": "Feature -> mean over the members, in the feature's own unit (nulls ignored).",
    "z_scores": "Feature -> (centroid - population mean) / population std over the snapshot.",
    "top_features": "Features with the largest |z|, most distinctive first.",
    "description": "One-paragraph persona description generated from the numbers above.",
    "model_name": MEMBERSHIP_COMMENTS["model_name"],
    "model_version": MEMBERSHIP_COMMENTS["model_version"],
    "run_id": MEMBERSHIP_COMMENTS["run_id"],
}
PROFILE_SCHEMA = (
    "snapshot_date date, segment_id string, segment_name string, size bigint, share double, is_new boolean, "
    "below_min_size boolean, source_clusters array<int>, centroid map<string,double>, z_scores map<string,double>, "
    "top_features array<string>, description string, model_name string, model_version string, run_id string"
)


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
    return spark.createDataFrame(rows, PROFILE_SCHEMA)


def write_segments(
    membership: DataFrame, summary: DataFrame, tables: Tables, as_of: date, profiles: DataFrame | None = None
) -> dict[str, str]:
    """Write one snapshot of membership, summary (and profiles) atomically per table; returns their locations."""
    where = f"snapshot_date = DATE'{as_of.isoformat()}'"
    specs = {
        "segment_membership": (
            membership,
            tables.spec(
                "segments",
                "segment_membership",
                comment="Subject-to-segment assignments per snapshot (versioned by Delta history).",
                column_comments=MEMBERSHIP_COMMENTS,
                partition_by=("snapshot_date",),
            ),
        ),
        "segment_summary": (
            summary,
            tables.spec("segments", "segment_summary", comment="Segment sizes and shares per snapshot."),
        ),
    }
    if profiles is not None:
        specs["segment_profiles"] = (
            profiles,
            tables.spec(
                "segments",
                "segment_profiles",
                comment="One persona per snapshot and segment: size, centroid, z-scores, name, description.",
                column_comments=PROFILE_COMMENTS,
            ),
        )
    for df, spec in specs.values():
        write_table(df, spec, mode="overwrite", replace_where=where)
    return {name: spec.location for name, (_, spec) in specs.items()}
