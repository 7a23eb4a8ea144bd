"""Assemble the five raw tables (exact contract schema) plus the planted truth, and write them as Delta."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config.generator import GeneratorConfig
from seglib.delta_io import TableSpec, read_table, write_table
from seglib.generate.activity import events, orders, sessions
from seglib.generate.calendar import History
from seglib.generate.crm import consents, crm_customers
from seglib.generate.defects import (
    DEFECT_COL,
    EVENT_DEFECTS,
    ORDER_DEFECTS,
    defect_counts,
    with_event_defects,
    with_order_defects,
)
from seglib.generate.rand import Rng
from seglib.generate.subjects import planted_truth, subjects
from seglib.generate.texts import texts
from seglib.tables import RAW_INPUTS, raw_input, table

log = logging.getLogger(__name__)

# (column, Spark type, comment) per raw table: the raw input contract, as declared in seglib.tables.
CONTRACT: dict[str, list[tuple[str, str, str]]] = {
    name: [(c.name, c.type, c.comment) for c in raw_input(name).columns] for name in RAW_INPUTS
}
TRUTH = table("raw", "planted_truth")
TRUTH_CONTRACT = [(c.name, c.type, c.comment) for c in TRUTH.columns]
TABLE_COMMENTS = {name: raw_input(name).comment for name in RAW_INPUTS} | {"truth": TRUTH.comment}


@dataclass(frozen=True)
class Generated:
    """Lazily defined output frames; ``events``/``orders`` still carry the ``_defect`` column."""

    tables: dict[str, DataFrame]
    truth: DataFrame


def conform(df: DataFrame, contract: list[tuple[str, str, str]]) -> DataFrame:
    """Exactly the contract's columns, in order, with the contract's types and column comments."""
    return df.select(
        *[F.col(name).cast(dtype).alias(name, metadata={"comment": text}) for name, dtype, text in contract]
    )


def history_for(cfg: GeneratorConfig, as_of: date) -> History:
    return History(days=cfg.days, end=cfg.end_date or as_of, as_of=as_of)


def build_raw_tables(spark: SparkSession, cfg: GeneratorConfig, as_of: date) -> Generated:
    """All generated frames (nothing computed yet); the same config gives the same rows."""
    history = history_for(cfg, as_of)
    rng = Rng(cfg.seed)
    subject_df = subjects(spark, cfg, history, rng)
    clean_events = events(sessions(subject_df, history, rng), history, rng)
    return Generated(
        tables={
            "raw_events": with_event_defects(clean_events, cfg.bad_row_share, history, rng),
            "raw_crm_customers": crm_customers(subject_df, history, rng),
            "raw_orders": with_order_defects(orders(clean_events, rng), cfg.bad_row_share, rng),
            "raw_consents": consents(subject_df, history, rng),
            "raw_texts": texts(subject_df, history, rng),
        },
        truth=planted_truth(subject_df),
    )


def _spec(location: str, name: str) -> TableSpec:
    # Column comments travel in the schema (see conform): one ALTER TABLE per column would cost ~0.7 s each.
    return TableSpec(location=location, comment=TABLE_COMMENTS[name])


def generate_raw_tables(
    spark: SparkSession,
    cfg: GeneratorConfig,
    locations: Mapping[str, str],
    truth_location: str,
    as_of: date,
) -> dict[str, int]:
    """Write the five raw tables and the planted truth; return row counts and injected-defect counts."""
    generated = build_raw_tables(spark, cfg, as_of)
    counts: dict[str, int] = {}
    outputs = [(name, generated.tables[name], contract, locations[name]) for name, contract in CONTRACT.items()]
    outputs.append(("truth", generated.truth, TRUTH_CONTRACT, truth_location))
    for name, df, contract, location in outputs:
        # A regenerated table replaces the old one entirely, even if an older generator wrote other columns.
        write_table(conform(df, contract), _spec(location, name), mode="overwrite", overwrite_schema=True)
        counts[name] = read_table(spark, location).count()
        log.info("generated %s: %d rows at %s", name, counts[name], location)
    counts.update(defect_counts(generated.tables["raw_events"], "events", EVENT_DEFECTS))
    counts.update(defect_counts(generated.tables["raw_orders"], "orders", ORDER_DEFECTS))
    return counts


__all__ = ["CONTRACT", "DEFECT_COL", "TRUTH_CONTRACT", "Generated", "build_raw_tables", "generate_raw_tables"]
