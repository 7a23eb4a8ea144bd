"""One small generated data set per session: the lazily built frames (cached) and the same data written as Delta."""

from __future__ import annotations

from datetime import date

import pytest

from seglib.config.generator import GeneratorConfig
from seglib.generate import build_raw_tables, generate_raw_tables

AS_OF = date(2025, 6, 1)
RAW_NAMES = ("raw_events", "raw_crm_customers", "raw_orders", "raw_consents", "raw_texts")


@pytest.fixture(scope="session")
def small_cfg() -> GeneratorConfig:
    return GeneratorConfig(
        customers=60, anonymous_share=0.3, days=12, events_per_customer=40, seed=7, bad_row_share=0.3
    )


@pytest.fixture(scope="session")
def frames(spark, small_cfg):
    """Generated frames (events/orders keep the ``_defect`` marker), cached for the session."""
    generated = build_raw_tables(spark, small_cfg, AS_OF)
    cached = {name: df.cache() for name, df in generated.tables.items()}
    cached["truth"] = generated.truth.cache()
    yield cached
    for df in cached.values():
        df.unpersist()


@pytest.fixture(scope="session")
def written(spark, spark_tmp, small_cfg):
    """(counts, locations) after writing the same config through the public entry point."""
    locations = {name: str(spark_tmp / "generate" / name) for name in RAW_NAMES}
    truth = str(spark_tmp / "generate" / "truth")
    counts = generate_raw_tables(spark, small_cfg, locations, truth, AS_OF)
    return counts, {**locations, "truth": truth}
