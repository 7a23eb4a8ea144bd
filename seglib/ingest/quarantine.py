"""Rejected rows -> the ops ``quarantine`` table, pseudonymized first so quarantine never holds PII."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import delete_where, write_table
from seglib.ingest.contract import as_read
from seglib.ingest.rules import REASONS, as_utc_instant
from seglib.tables import Warehouse


def quarantine_rows(
    rejected: DataFrame, table: str, raw_columns: Sequence[str], key_ring, run_id: str, now: datetime
) -> DataFrame:
    """Flagged rejected rows (``raw_columns``: the raw frame's columns) -> quarantine schema; the payload is the
    row as read, built only after pseudonymize_raw_row."""
    from seglib.privacy.quarantine import pseudonymize_raw_row

    raw = rejected.select(*as_read(rejected, table, raw_columns), F.col(REASONS))
    safe = pseudonymize_raw_row(raw, table, key_ring)
    if REASONS not in safe.columns:
        raise RuntimeError(f"pseudonymize_raw_row dropped the {REASONS} column; it must pass unknown columns through")
    payload = [F.col(f"`{c}`") for c in safe.columns if c != REASONS]
    return safe.select(
        F.lit(table).alias("table_name"),
        F.col(REASONS).alias("rules"),
        F.to_json(F.struct(*payload)).alias("row_json"),
        F.lit(run_id).alias("run_id"),
        F.lit(as_utc_instant(now)).cast("timestamp").alias("quarantined_at"),
    )


def write_quarantine(spark: SparkSession, df: DataFrame | None, tables: Warehouse, run_id: str) -> None:
    """Replace this run's rows (every raw table's, in one commit), so re-running a run id never doubles its
    quarantine; ``df`` None (nothing rejected) only clears rows an earlier attempt of this run id left."""
    spec = tables.spec("ops/quarantine")
    if df is None:
        delete_where(spark, spec.location, f"run_id = '{run_id}'")
        return
    write_table(df, spec, mode="overwrite", replace_where=f"run_id = '{run_id}'")
