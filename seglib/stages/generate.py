"""Stage ``generate``: the synthetic world's raw tables."""

from __future__ import annotations

from pyspark.sql import SparkSession

from seglib.config import SeglibConfig
from seglib.run_types import GenerateResult, RunContext
from seglib.tables import RAW_INPUTS, Warehouse


def stage_generate(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> GenerateResult:
    """Write the five raw tables (and the planted truth) from the synthetic generator."""
    from seglib.generate import generate_raw_tables

    wh = Warehouse.of(cfg)
    locations = {name: wh.location(f"raw/{name}") for name in RAW_INPUTS}
    counts = generate_raw_tables(spark, cfg.generator, locations, wh.location("raw/planted_truth"), ctx.as_of)
    return GenerateResult(counts)
