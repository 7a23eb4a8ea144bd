"""Build and write the segment membership table and its per-segment summary.

Membership is written with ``replaceWhere snapshot_date = ...`` so each snapshot is one atomic, re-runnable Delta
commit; earlier snapshots stay in the table and every rewrite stays in the Delta history (time travel).
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.delta_io import write_table
from seglib.tables import Warehouse


def cluster_membership(
    assigned: DataFrame, as_of: date, model_name: str, model_version: str, run_id: str, now: datetime
) -> DataFrame:
    """subject_id + cluster_id + persona -> the membership schema."""
    return assigned.select(
        "subject_id",
        F.lit(as_of).cast("date").alias("snapshot_date"),
        F.lit("cluster").alias("segment_type"),
        F.col("cluster_id").cast("string").alias("segment_id"),
        F.col("persona").alias("segment_name"),
        F.lit(model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.lit(now).cast("timestamp").alias("assigned_at"),
    )


def segment_summary(membership: DataFrame, min_segment_size: int) -> DataFrame:
    """Per segment: size, share of the snapshot, and whether it meets the k-anonymity floor for activation."""
    from pyspark.sql.window import Window

    total = Window.partitionBy("snapshot_date", "segment_type")
    return (
        membership.groupBy("snapshot_date", "segment_type", "segment_id", "segment_name", "run_id")
        .agg(F.count("*").alias("size"))
        .withColumn("share", F.round(F.col("size") / F.sum("size").over(total), 4))
        .withColumn("meets_min_size", F.col("size") >= F.lit(min_segment_size))
    )


def write_segments(membership: DataFrame, summary: DataFrame, tables: Warehouse, as_of: date) -> dict[str, str]:
    """Write one snapshot of membership and summary atomically per table; returns their locations."""
    where = f"snapshot_date = DATE'{as_of.isoformat()}'"
    membership_spec = tables.spec("segments/segment_membership")
    summary_spec = tables.spec("segments/segment_summary")
    for df, spec in ((membership, membership_spec), (summary, summary_spec)):
        write_table(df, spec, mode="overwrite", replace_where=where)
    return {"segment_membership": membership_spec.location, "segment_summary": summary_spec.location}
