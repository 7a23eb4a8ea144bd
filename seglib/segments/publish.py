"""Write the clustering's snapshot: every subject's cluster segment (models/cluster_assignments) and the personas
(models/cluster_profiles). Segment assignment (seglib/segments/assign.py) combines them with rules and scores.

Each table is written with ``replaceWhere snapshot_date = ...``: one atomic, re-runnable Delta commit per snapshot;
earlier snapshots stay in the table and every rewrite stays in the Delta history (time travel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import write_table
from seglib.modeling.personas import Persona
from seglib.tables import Warehouse, table

ASSIGNMENTS = table("models", "cluster_assignments")
PROFILES = table("models", "cluster_profiles")


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
    -> the cluster_assignments schema (broadcast join: the lookup is tiny)."""
    probability = F.col("max_probability") if "max_probability" in assigned.columns else F.lit(None)
    return assigned.join(F.broadcast(segments), "cluster_id").select(
        "subject_id",
        F.lit(as_of).cast("date").alias("snapshot_date"),
        "segment_id",
        "segment_name",
        F.lit("cluster").alias("assignment_source"),
        probability.cast("double").alias("confidence"),
        F.lit(model_name).alias("model_name"),
        F.lit(model_version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
        F.lit(now).cast("timestamp").alias("assigned_at"),
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
    """The models/cluster_profiles rows of one snapshot (k rows built on the driver from k x d aggregates)."""
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


def write_cluster_snapshot(
    assignments: DataFrame, profiles: DataFrame, tables: Warehouse, as_of: date
) -> dict[str, str]:
    """Write one snapshot of cluster assignments and profiles (one replaceWhere commit each); their locations."""
    where = f"snapshot_date = DATE'{as_of.isoformat()}'"
    written = {}
    for df, declaration in ((ASSIGNMENTS.conform(assignments), ASSIGNMENTS), (PROFILES.conform(profiles), PROFILES)):
        spec = tables.spec(declaration)
        write_table(df, spec, mode="overwrite", replace_where=where)
        written[declaration.name] = spec.location
    return written
