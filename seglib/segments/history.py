"""Publish one snapshot's segment assignment: current membership (MERGE), its SCD type 2 history (MERGE),
transitions, definitions, profiles, and last the publication row that names the versions written.

Re-running a snapshot is idempotent: the history is first rolled back to the state before the snapshot (rows it
opened are deleted, rows it closed are reopened) inside the same MERGE that applies it again, and the per-snapshot
tables are replaced with ``replaceWhere``. Every table commit is atomic, so a run killed half-way leaves each table
readable at its previous or its new version; segment_publications still names the previous publication's versions
until the run that completes writes its row. Snapshots only move forward: one older than the latest publication is
refused (history and transitions are sequential).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import TableSpec, current_version, merge_upsert, read_table, table_exists, write_table
from seglib.errors import SeglibError
from seglib.frames import first_row
from seglib.segments.assign import MEMBERSHIP_KEYS, Lineage
from seglib.tables import Warehouse, table

log = logging.getLogger(__name__)

MEMBERSHIP = table("segments", "segment_membership")
HISTORY = table("segments", "segment_membership_history")
TRANSITIONS = table("segments", "segment_transitions")
DEFINITIONS = table("segments", "segment_definitions")
PROFILES = table("segments", "segment_profiles")
PUBLICATIONS = table("segments", "segment_publications")
HISTORY_KEYS = (*MEMBERSHIP_KEYS, "valid_from")


class SnapshotOrderError(SeglibError):
    """A snapshot older than the latest published one: segment history only moves forward."""


@dataclass(frozen=True)
class Publication:
    snapshot_date: date
    previous_snapshot_date: date | None
    table_versions: dict[str, int]
    subjects: int
    transitions: int


def latest_publications(spark: SparkSession, tables: Warehouse, as_of: date) -> tuple[date | None, date | None]:
    """(latest published snapshot before ``as_of``, latest published snapshot of all); refuses an older snapshot."""
    location = tables.location(PUBLICATIONS)
    if not table_exists(spark, location):
        return None, None
    row = first_row(
        read_table(spark, location).agg(
            F.max(F.when(F.col("snapshot_date") < F.lit(as_of), F.col("snapshot_date"))).alias("previous"),
            F.max("snapshot_date").alias("latest"),
        )
    )
    if row["latest"] is not None and row["latest"] > as_of:
        raise SnapshotOrderError(
            f"snapshot {as_of} is older than the latest published segment snapshot {row['latest']}: segment history "
            "only moves forward (publish that snapshot or a later one; time travel reads older states)"
        )
    return row["previous"], row["latest"]


def state_before(history: DataFrame, as_of: date) -> DataFrame:
    """The memberships open just before ``as_of``: what the history said before any run of this snapshot (rows it
    closed are open again; rows it opened do not exist)."""
    started_before = F.col("valid_from") < F.lit(as_of)
    open_then = F.col("valid_to").isNull() | (F.col("valid_to") >= F.lit(as_of))
    return history.where(started_before & open_then).withColumns(
        {"valid_to": F.lit(None).cast("date"), "is_current": F.lit(True)}
    )


def history_rows(before: DataFrame, membership: DataFrame, as_of: date, lineage: Lineage) -> DataFrame:
    """The history rows this snapshot decides: memberships that continue (unchanged, open), end (closed at
    ``as_of``) or start (opened at ``as_of`` with this run's lineage)."""
    keys = list(MEMBERSHIP_KEYS)
    now_keys = membership.select(*keys)
    continuing = before.join(now_keys, keys, "left_semi")
    ended = before.join(now_keys, keys, "left_anti").withColumns(
        {"valid_to": F.lit(as_of).cast("date"), "is_current": F.lit(False)}
    )
    started = membership.join(before.select(*keys), keys, "left_anti").withColumns(
        {
            "valid_from": F.lit(as_of).cast("date"),
            "valid_to": F.lit(None).cast("date"),
            "is_current": F.lit(True),
            **lineage.columns(),
        }
    )
    return HISTORY.conform(continuing).unionByName(HISTORY.conform(ended)).unionByName(HISTORY.conform(started))


def transitions(
    before: DataFrame,
    membership: DataFrame,
    families: list[str],
    as_of: date,
    previous: date,
    lineage: Lineage,
) -> DataFrame:
    """Subjects whose segment of an exclusive family differs from the previous snapshot's (entering and leaving
    included), one row per subject and family."""

    def side(df: DataFrame, prefix: str) -> DataFrame:
        return df.where(F.col("segment_family").isin(families)).select(
            "subject_id",
            "segment_family",
            F.col("segment_id").alias(f"{prefix}_segment_id"),
            F.col("segment_name").alias(f"{prefix}_segment_name"),
        )

    moved = side(before, "from").join(side(membership, "to"), ["subject_id", "segment_family"], "full_outer")
    moved = moved.where(~F.col("from_segment_id").eqNullSafe(F.col("to_segment_id"))).withColumns(
        {
            "snapshot_date": F.lit(as_of).cast("date"),
            "previous_snapshot_date": F.lit(previous).cast("date"),
            **lineage.columns(),
        }
    )
    return TRANSITIONS.conform(moved)


def _merge_history(rows: DataFrame, spec: TableSpec, as_of: date) -> None:
    changed = "NOT (t.valid_to <=> s.valid_to) OR NOT (t.is_current <=> s.is_current) OR NOT (t.run_id <=> s.run_id)"
    # Rows an earlier run of this snapshot opened and this run does not: the rollback half of a re-run.
    merge_upsert(rows, spec, HISTORY_KEYS, update_condition=changed,
                 delete_unmatched=f"t.valid_from >= DATE'{as_of.isoformat()}'")  # fmt: skip


def _merge_membership(rows: DataFrame, spec: TableSpec) -> None:
    merge_upsert(rows, spec, MEMBERSHIP_KEYS, delete_unmatched=True)  # left the segment (or the snapshot)


def _earlier_layout(spark: SparkSession, declaration, location: str) -> bool:
    """True for a table written by an earlier seglib with other keys (e.g. per-snapshot cluster membership): it is
    replaced whole, and its earlier versions stay readable by time travel."""
    missing = set(declaration.keys) - set(read_table(spark, location).columns)
    if missing:
        log.warning("%s has an earlier layout (no %s): replaced", declaration.qualified_name, sorted(missing))
    return bool(missing)


def _upsert(spark: SparkSession, tables: Warehouse, declaration, rows: DataFrame, merge) -> None:
    spec = tables.spec(declaration)
    if not table_exists(spark, spec.location):
        write_table(rows, spec, mode="overwrite")
    elif _earlier_layout(spark, declaration, spec.location):
        write_table(rows, spec, mode="overwrite", overwrite_schema=True)
    else:
        merge(rows, spec)


def _replace_snapshot(spark: SparkSession, tables: Warehouse, declaration, rows: DataFrame, as_of: date) -> None:
    spec = tables.spec(declaration)
    if table_exists(spark, spec.location) and _earlier_layout(spark, declaration, spec.location):
        write_table(rows, spec, mode="overwrite", overwrite_schema=True)
    else:
        write_table(rows, spec, mode="overwrite", replace_where=f"snapshot_date = DATE'{as_of.isoformat()}'")


def publish_segments(
    spark: SparkSession,
    tables: Warehouse,
    as_of: date,
    membership: DataFrame,
    definitions: DataFrame,
    profiles: DataFrame,
    exclusive: list[str],
    lineage: Lineage,
    published_at,
    skipped: Sequence[tuple[str, str, str]] = (),
) -> Publication:
    """Write the snapshot's five segment tables, then its publication row (the commit order is the recovery story:
    see the module docstring). ``membership`` is read by several writes: pass it cached or checkpointed. ``skipped``:
    (family, status, reason) of the model families the publication lacks, recorded in its row."""
    previous, _ = latest_publications(spark, tables, as_of)
    history_location = tables.location(HISTORY)
    history_version = current_version(spark, history_location)
    if history_version is None:
        before = spark.createDataFrame([], HISTORY.schema)
    else:  # pinned: the MERGE below rewrites the table this plan reads
        before = state_before(read_table(spark, history_location, version=history_version), as_of)
    before = before.localCheckpoint()  # read by the transitions and the history rows
    _replace_snapshot(spark, tables, DEFINITIONS, definitions, as_of)
    _replace_snapshot(spark, tables, PROFILES, profiles, as_of)
    moved = 0
    if previous is not None:
        changes = transitions(before, membership, exclusive, as_of, previous, lineage).localCheckpoint()
        moved = changes.count()
        _replace_snapshot(spark, tables, TRANSITIONS, changes, as_of)
    _upsert(
        spark, tables, HISTORY, history_rows(before, membership, as_of, lineage),
        lambda rows, spec: _merge_history(rows, spec, as_of),
    )  # fmt: skip
    _upsert(spark, tables, MEMBERSHIP, membership, _merge_membership)
    versions = {
        d.qualified_name: version
        for d in (MEMBERSHIP, HISTORY, TRANSITIONS, DEFINITIONS, PROFILES)
        if (version := current_version(spark, tables.location(d))) is not None  # None: no such table
    }
    subjects = membership.select("subject_id").distinct().count()
    built = ("snapshot_date", "run_id", "published_at", "table_versions", "subjects", "skipped_families")
    row = spark.createDataFrame(
        [(as_of, lineage.run_id, published_at, versions, subjects, list(skipped))], PUBLICATIONS.schema_of(built)
    )
    constants = {k: v for k, v in lineage.columns().items() if k != "run_id"}
    write_table(PUBLICATIONS.conform(row, constants), tables.spec(PUBLICATIONS), mode="append")
    log.info("segments of %s published (previous %s): %d subjects, %d transitions, versions %s",
             as_of, previous, subjects, moved, versions)  # fmt: skip
    return Publication(as_of, previous, versions, subjects, moved)
