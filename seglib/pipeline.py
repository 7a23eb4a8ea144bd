"""The stages of a seglib run and the function that chains them.

Each stage reads its inputs from Delta, writes its outputs to Delta, and records what it did in the shared
:class:`RunContext`, so a stage can run alone (``seg ingest``, ``seg features`` ...) or as part of ``seg run``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from seglib.config import SeglibConfig
from seglib.config.models import RAW_TABLES
from seglib.delta_io import Tables, read_table, table_exists, write_table

log = logging.getLogger(__name__)

SILVER_TABLES = ("events", "customers", "orders", "consents", "texts")


@dataclass
class RunContext:
    """Identity and clock of one run: ``as_of`` is the snapshot date; ``now`` the run's wall-clock reference."""

    as_of: date
    now: datetime
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    results: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, as_of: date | None = None, run_id: str | None = None) -> RunContext:
        wall = datetime.now(UTC).replace(tzinfo=None)
        day = as_of or wall.date()
        # Replaying history: "now" is the end of the snapshot day, so nothing after it counts as valid yet.
        now = wall if day >= wall.date() else datetime.combine(day, time(0, 0))
        return cls(as_of=day, now=now, run_id=run_id or uuid.uuid4().hex[:16])


def raw_locations(cfg: SeglibConfig) -> dict[str, str]:
    return {name: cfg.inputs.location(name, cfg.warehouse) for name in RAW_TABLES}


def truth_location(cfg: SeglibConfig) -> str:
    return Tables(cfg.warehouse).location("raw", "planted_truth")


def stage_generate(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> dict[str, int]:
    """Write the five raw tables (and the planted truth) from the synthetic generator."""
    from seglib.generate import generate_raw_tables

    counts = generate_raw_tables(spark, cfg.generator, raw_locations(cfg), truth_location(cfg), ctx.as_of)
    ctx.results["generate"] = counts
    return counts


def stage_ingest(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, full_refresh: bool = False):
    """Raw -> validated, de-duplicated, pseudonymous silver tables (+ quarantine and DQ metrics)."""
    from seglib.ingest import run_ingest

    missing = [loc for loc in raw_locations(cfg).values() if not table_exists(spark, loc)]
    if missing:
        raise FileNotFoundError(
            f"raw input table(s) not found: {missing}. Run `seg generate` or point inputs.* at your tables."
        )
    report = run_ingest(spark, cfg, run_id=ctx.run_id, now=ctx.now, full_refresh=full_refresh)
    ctx.results["ingest"] = report
    return report


def read_silver(spark: SparkSession, cfg: SeglibConfig) -> dict[str, DataFrame]:
    tables = Tables(cfg.warehouse)
    return {name: read_table(spark, tables.location("silver", name)) for name in SILVER_TABLES}


def stage_features(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> str:
    """Silver -> one feature row per consenting subject for the snapshot date (replaces that snapshot only)."""
    from seglib.features import build_feature_set, feature_column_comments

    feature_set = build_feature_set(read_silver(spark, cfg), cfg.features, ctx.as_of)
    features = feature_set.features
    ctx.results["rfm_thresholds"] = feature_set.rfm_thresholds.to_dict()
    spec = Tables(cfg.warehouse).spec(
        "features",
        "subject_features",
        comment="One row per subject per snapshot_date; point-in-time correct (data before the snapshot day).",
        column_comments=feature_column_comments(cfg.features),
        partition_by=("snapshot_date",),
    )
    write_table(features, spec, mode="overwrite", replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}'")
    ctx.results["features"] = spec.location
    return spec.location


def read_features(spark: SparkSession, cfg: SeglibConfig, as_of: date) -> DataFrame:
    from pyspark.sql import functions as F

    location = Tables(cfg.warehouse).location("features", "subject_features")
    return read_table(spark, location).where(F.col("snapshot_date") == F.lit(as_of))


def stage_cluster(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> dict[str, Any]:
    """Fit the feature space + k selection, log + register the pipeline in MLflow, write memberships."""
    from seglib.modeling.clustering import assign_clusters, fit_clustering
    from seglib.modeling.personas import cluster_centers, persona_names, personas_frame, with_persona
    from seglib.modeling.truth import planted_truth_scores
    from seglib.segments.publish import cluster_membership, segment_summary, write_segments
    from seglib.tracking import log_clustering, log_truth_scores

    features = read_features(spark, cfg, ctx.as_of)
    result = fit_clustering(features, cfg.clustering)
    centers = cluster_centers(result.model)
    names = persona_names(centers, result.vector_names)
    logged = log_clustering(cfg, ctx, result, names)
    personas = personas_frame(spark, names, centers, result.vector_names)
    scored = assign_clusters(result.model, features.select("subject_id", *result.feature_cols))
    assigned = with_persona(scored, personas)
    membership = cluster_membership(
        assigned, ctx.as_of, logged["model_name"], logged["model_version"], ctx.run_id, ctx.now
    )
    summary = segment_summary(membership, cfg.segments.min_segment_size)
    locations = write_segments(membership, summary, Tables(cfg.warehouse), ctx.as_of)
    out = {
        **logged,
        "k": result.k,
        "silhouette": result.silhouette,
        "selection_reason": result.selection.reason,
        "dropped_features": result.dropped_features,
        "personas": names,
        "tables": locations,
    }
    # Synthetic data only: how well the segments recover the generator's planted ones.
    truth = planted_truth_scores(spark, cfg, assigned)
    if truth is not None:
        log.info("planted truth: ARI %.3f, NMI %.3f over %d subjects", truth["ari"], truth["nmi"], truth["subjects"])
        log_truth_scores(cfg, ctx, logged["mlflow_run_id"], truth)
        out["planted_truth"] = truth
    ctx.results["cluster"] = out
    return out


def run_all(
    spark: SparkSession,
    cfg: SeglibConfig,
    ctx: RunContext,
    generate: bool = False,
    full_refresh: bool = False,
) -> RunContext:
    """generate (optional) -> ingest -> features -> cluster -> segments."""
    if generate:
        stage_generate(spark, cfg, ctx)
    stage_ingest(spark, cfg, ctx, full_refresh=full_refresh)
    stage_features(spark, cfg, ctx)
    stage_cluster(spark, cfg, ctx)
    return ctx


def snapshot_summary(spark: SparkSession, cfg: SeglibConfig, as_of: date) -> list[dict[str, Any]]:
    """The segment summary of one snapshot (k rows: safe to bring to the driver)."""
    from pyspark.sql import functions as F

    location = Tables(cfg.warehouse).location("segments", "segment_summary")
    rows = read_table(spark, location).where(F.col("snapshot_date") == F.lit(as_of)).orderBy(F.desc("size")).collect()
    return [r.asDict() for r in rows]


__all__ = [
    "RunContext",
    "read_features",
    "read_silver",
    "run_all",
    "snapshot_summary",
    "stage_cluster",
    "stage_features",
    "stage_generate",
    "stage_ingest",
]
