"""Stage ``ingest``: raw tables to validated, de-duplicated, pseudonymous silver."""

from __future__ import annotations

from pyspark.sql import SparkSession

from seglib.config import SeglibConfig
from seglib.run_types import RunContext


def stage_ingest(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, full_refresh: bool = False):
    """Raw -> validated, de-duplicated, pseudonymous silver tables (+ quarantine and DQ metrics)."""
    from seglib.ingest import run_ingest

    return run_ingest(spark, cfg, run_id=ctx.run_id, now=ctx.now, full_refresh=full_refresh, as_of=ctx.as_of)
