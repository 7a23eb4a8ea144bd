"""One run at a time per warehouse: a lease row in the Delta table ``ops/run_lock``, taken with an atomic MERGE.

Two ``seg run`` on one warehouse (a scheduler that fires twice, a backfill beside the daily run) would otherwise
interleave their writes (``ConcurrentAppendException`` on shared ops tables, a half-initialised MLflow store). The
lock works wherever Delta works (local disk, HDFS, object stores), because it relies only on Delta's optimistic
concurrency: of two MERGEs that both read the lock table, only one commits. The loser, and any run that finds a live
lease, fails at once with a message naming the holder. A lease expires after ``warehouse.run_lock_minutes`` so a
crashed run cannot block the warehouse forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from seglib.delta_io import TableSpec, delta_table, merge_upsert, read_table, table_exists, write_table
from seglib.errors import RunLockedError
from seglib.run_types import RunContext
from seglib.tables import Warehouse, table

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger(__name__)

LOCK_TABLE = table("ops", "run_lock")
LOCK_NAME = "warehouse"


def _conflict_errors() -> tuple[type[BaseException], ...]:
    from delta import exceptions as d

    return (
        d.ConcurrentAppendException,
        d.ConcurrentDeleteReadException,
        d.ConcurrentDeleteDeleteException,
        d.ConcurrentTransactionException,
        d.ConcurrentWriteException,
        d.MetadataChangedException,
        d.ProtocolChangedException,
        d.DeltaConcurrentModificationException,
    )


def _ensure_table(spark: SparkSession, spec: TableSpec) -> None:
    if table_exists(spark, spec.location):
        return
    # An empty append creates the table; two runs creating it at the same moment: one commit wins, both go on.
    with contextlib.suppress(*_conflict_errors()):
        write_table(spark.createDataFrame([], LOCK_TABLE.schema), spec, mode="append")


def _holder(spark: SparkSession, location: str):
    return read_table(spark, location).where(F.col("lock_name") == LOCK_NAME).first()


def acquire(spark: SparkSession, config: SeglibConfig, run_id: str, command: str) -> None:
    """Take the warehouse lease for ``run_id`` or raise :class:`RunLockedError` naming the current holder."""
    spec = Warehouse.of(config).spec(LOCK_TABLE)
    location = spec.location
    _ensure_table(spark, spec)
    now = datetime.now(UTC).replace(tzinfo=None)
    expires = now + timedelta(minutes=config.warehouse.run_lock_minutes)
    row = spark.createDataFrame(
        [(LOCK_NAME, run_id, command, f"{socket.gethostname()}:{os.getpid()}", now, expires)], LOCK_TABLE.schema
    )
    try:
        # A live lease of another run is left alone: the MERGE updates an expired lease or this run's own.
        merge_upsert(row, spec, LOCK_TABLE.keys, update_condition="t.expires_at < s.acquired_at OR t.run_id = s.run_id")
    except _conflict_errors():
        holder = _holder(spark, location)
        raise RunLockedError(_busy_message(location, holder)) from None
    holder = _holder(spark, location)
    if holder is None or holder["run_id"] != run_id:
        raise RunLockedError(_busy_message(location, holder))
    log.info("run lock taken by %s until %s (%s)", run_id, expires, location)


def release(spark: SparkSession, config: SeglibConfig, run_id: str) -> None:
    location = Warehouse.of(config).location(LOCK_TABLE)
    delta_table(spark, location).delete((F.col("lock_name") == LOCK_NAME) & (F.col("run_id") == run_id))


def _busy_message(location: str, holder) -> str:
    if holder is None:
        return f"another seglib run took the warehouse lock at the same moment ({location}); retry when it is done"
    return (
        f"warehouse is busy: run {holder['run_id']} ({holder['command']} on {holder['holder']}) holds the run lock "
        f"since {holder['acquired_at']} UTC, until it finishes or the lease expires at {holder['expires_at']} UTC "
        f"({location})"
    )


@contextlib.contextmanager
def warehouse_lock(spark: SparkSession, config: SeglibConfig, ctx: RunContext, command: str = "run") -> Iterator[None]:
    """Hold the warehouse lock for the block; released on success and on failure."""
    acquire(spark, config, ctx.run_id, command)
    try:
        yield
    finally:
        release(spark, config, ctx.run_id)
