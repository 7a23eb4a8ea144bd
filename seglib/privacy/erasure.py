"""Right to erasure (GDPR art. 17 / CCPA deletion): delete a subject from every Delta table seglib owns, log it.

``forget`` pseudonymizes the requested raw ids with *every* key of the ring (data written before a rotation is
found too), adds the anonymous ids the silver identity map links to those customers, deletes matching rows from
every owned table the registry (``seglib.tables``) declares with a subject column, and appends one row to
``ops/erasure_log`` holding counts only (no raw id, no pseudonym). Tables are known from the registry, never found by
listing storage, and a table that cannot be reached fails the erasure instead of being skipped.
Deleted rows survive in older Delta versions until ``vacuum_owned_tables`` runs past
``privacy.vacuum_retention_hours``.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.delta_io import delete_where, delta_table, read_table, table_exists, vacuum, write_table
from seglib.errors import ErasureError
from seglib.privacy.keys import KeyRing, load_key_ring
from seglib.privacy.pseudonymize import pseudonym_py, pseudonym_with_key
from seglib.tables import REGISTRY, Role, Warehouse, table

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger(__name__)

ERASURE_LOG = table("ops", "erasure_log")
_PSEUDONYM_RE = re.compile(r"^[0-9a-f]{32}$")
_IN_LIST_CHUNK = 1000


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure did, without any identifier (the same content as its erasure_log row)."""

    erasure_id: str
    requested_at: datetime
    subjects_requested: int
    linked_identities: int
    key_versions: tuple[str, ...]
    rows_deleted: dict[str, int] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def tables_touched(self) -> list[str]:
        return sorted(name for name, rows in self.rows_deleted.items() if rows > 0)

    @property
    def total_rows_deleted(self) -> int:
        return sum(self.rows_deleted.values())

    def as_row(self) -> tuple:
        return (
            self.erasure_id,
            self.requested_at,
            self.subjects_requested,
            self.linked_identities,
            list(self.key_versions),
            len(self.rows_deleted),
            self.tables_touched,
            dict(self.rows_deleted),
            self.total_rows_deleted,
            self.run_id,
        )


# ---------------------------------------------------------------- owned tables


def owned_tables(config: SeglibConfig, erasable_only: bool = False) -> dict[str, str]:
    """Tables seglib owns, from the registry (never by listing storage): qualified name -> location.

    Raw inputs belong to their source systems and layers in ``privacy.erasure_excluded_layers`` are skipped.
    """
    excluded = set(config.privacy.erasure_excluded_layers)
    wh = Warehouse.of(config)
    return {
        t.qualified_name: wh.location(t)
        for t in REGISTRY.values()
        if t.owned and t.layer not in excluded and (t.erasable or not erasable_only)
    }


def existing_owned_tables(
    spark: SparkSession, config: SeglibConfig, action: str, erasable_only: bool = False
) -> dict[str, str]:
    """The owned tables that exist. A table whose existence cannot be checked fails the command, and so does a
    warehouse holding none of them (a wrong ``warehouse.path`` must not look like a successful erasure)."""
    found = {}
    for name, location in owned_tables(config, erasable_only).items():
        try:
            exists = table_exists(spark, location)
        except Exception as exc:  # storage failures surface as Py4J/JVM types: each means "cannot reach"
            first_line = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ErasureError(
                f"cannot reach owned table {name} at {location} ({type(exc).__name__}: {first_line}); "
                "nothing was done to it"
            ) from exc
        if exists:
            found[name] = location
        else:
            log.info("%s: %s was never written (%s)", action, name, location)
    if not found:
        raise ErasureError(
            f"no seglib table exists under warehouse.path={config.warehouse.path}; "
            "check warehouse.path (nothing was done)"
        )
    return found


# ---------------------------------------------------------------- forget


def _requested_pseudonyms(
    spark: SparkSession, subject_ids: list[str] | DataFrame, ring: KeyRing
) -> tuple[int, DataFrame]:
    """(distinct requested ids, DataFrame[pseudonym]) under every key version of the ring."""
    if isinstance(subject_ids, DataFrame):
        column = "subject_id" if "subject_id" in subject_ids.columns else subject_ids.columns[0]
        raw = subject_ids.select(F.col(column).cast("string").alias("raw_id"))
        per_key = [raw.select(pseudonym_with_key(F.col("raw_id"), k).alias("pseudonym")) for k in ring.keys]
        union = per_key[0]
        for extra in per_key[1:]:
            union = union.unionByName(extra)
        requested = raw.select(pseudonym_with_key(F.col("raw_id"), ring.active).alias("p")).where("p IS NOT NULL")
        return requested.distinct().count(), union.where("pseudonym IS NOT NULL").distinct()
    wanted = {p for p in (pseudonym_py(s, ring.active) for s in subject_ids) if p is not None}
    rows = sorted({(p,) for s in subject_ids for k in ring.keys if (p := pseudonym_py(s, k)) is not None})
    return len(wanted), spark.createDataFrame(rows, "pseudonym string")


def _linked_anonymous(spark: SparkSession, config: SeglibConfig, pseudonyms: DataFrame) -> DataFrame:
    """Anonymous pseudonyms the silver identity map links to any requested pseudonym."""
    location = Warehouse.of(config).location("silver/identity_map")
    if not table_exists(spark, location):
        return spark.createDataFrame([], "pseudonym string")
    links = read_table(spark, location)
    return (
        links.join(pseudonyms, links["subject_id"] == pseudonyms["pseudonym"], "left_semi")
        .select(F.col("anonymous_pseudonym").alias("pseudonym"))
        .where("pseudonym IS NOT NULL")
        .distinct()
    )


def _delete_conditions(columns: Iterable[str], json_columns: Iterable[str], values: list[str]) -> list[str]:
    """SQL delete conditions in chunks; values are validated hex pseudonyms, so they are safe as literals."""
    bad = [v for v in values if not _PSEUDONYM_RE.match(v)]
    if bad:
        raise ValueError(f"{len(bad)} erasure values are not 32-hex pseudonyms; refusing to build SQL")
    conditions = []
    for start in range(0, len(values), _IN_LIST_CHUNK):
        chunk = values[start : start + _IN_LIST_CHUNK]
        in_list = ", ".join(f"'{v}'" for v in chunk)
        parts = [f"`{c}` IN ({in_list})" for c in columns]
        parts += [f"instr(`{c}`, '{v}') > 0" for c in json_columns for v in chunk]
        conditions.append(" OR ".join(parts))
    return conditions


def _deleted_rows(spark: SparkSession, location: str, since_version: int) -> int:
    """Rows deleted by DELETE commits after ``since_version`` (Delta's own operation metrics)."""
    history = delta_table(spark, location).history().where(F.col("version") > since_version)
    metrics = history.where(F.col("operation") == "DELETE").select(
        F.coalesce(F.sum(F.col("operationMetrics")["numDeletedRows"].cast("long")), F.lit(0)).alias("n")
    )
    return int(metrics.first()["n"])


def _subject_columns(
    spark: SparkSession, name: str, location: str
) -> tuple[DataFrame, tuple[str, ...], tuple[str, ...]]:
    """(the table, its declared subject columns, its declared JSON payload columns).

    The columns come from the table's declaration; a declared column missing from the stored table means the table
    is not what seglib wrote, and erasing from the remaining columns could leave the subject behind: fail.
    """
    declared = REGISTRY[name]
    df = read_table(spark, location)
    present = {f.name for f in df.schema.fields}
    columns = declared.columns_with(Role.SUBJECT)
    json_columns = declared.columns_with(Role.SUBJECT_PAYLOAD)
    missing = [c for c in (*columns, *json_columns) if c not in present]
    if missing:
        raise ErasureError(f"seg forget: {name} at {location} lacks its subject column(s) {missing}")
    return df, columns, json_columns


def _tables_holding(spark: SparkSession, tables: dict[str, str], values: list[str]) -> dict[str, tuple]:
    """The tables with at least one row to erase -> (subject columns, JSON payload columns), found by ONE union
    query, so that a DELETE (a job and a Delta commit) runs only where the subject has rows. Every table is checked
    for its declared columns first, even when there is nothing to erase."""
    declared = {name: _subject_columns(spark, name, location) for name, location in tables.items()}
    if not values:
        return {}
    matches = [
        df.where(" OR ".join(f"({c})" for c in _delete_conditions(columns, json_columns, values)))
        .select(F.lit(name).alias("table"))
        .limit(1)
        for name, (df, columns, json_columns) in declared.items()
    ]
    found = {r["table"] for r in reduce(DataFrame.unionByName, matches).collect()}
    return {name: (columns, json_columns) for name, (_, columns, json_columns) in declared.items() if name in found}


def _erase_from_table(
    spark: SparkSession, location: str, columns: Iterable[str], json_columns: Iterable[str], values: list[str]
) -> int:
    """Delete rows whose subject columns hold any of ``values``; -> rows deleted (Delta's own metrics)."""
    before = delta_table(spark, location).history(1).select("version").first()[0]
    for condition in _delete_conditions(columns, json_columns, values):
        delete_where(spark, location, condition)
    return _deleted_rows(spark, location, before)


def forget(
    spark: SparkSession,
    config: SeglibConfig,
    subject_ids: list[str] | DataFrame,
    now: datetime,
    run_id: str,
    key_ring: KeyRing | None = None,
) -> ErasureReport:
    """Erase the given raw customer/anonymous ids from every owned table and append an identifier-free log row."""
    ring = key_ring or load_key_ring(config.privacy)
    tables = existing_owned_tables(spark, config, "forget", erasable_only=True)
    requested, pseudonyms = _requested_pseudonyms(spark, subject_ids, ring)
    linked = _linked_anonymous(spark, config, pseudonyms)
    marked = pseudonyms.select("pseudonym", F.lit(True).alias("direct")).unionByName(
        linked.select("pseudonym", F.lit(False).alias("direct"))
    )
    # Collected on purpose (requested and linked ids in one job): the erasure set has the size of the request (plus
    # a few linked devices), not of the data, and literal IN-lists let Delta prune files; ids never leave this
    # function.
    collected = marked.collect()
    values = sorted({r["pseudonym"] for r in collected})
    direct = {r["pseudonym"] for r in collected if r["direct"]}
    # Every table considered is logged, with 0 where the subject has no row (no DELETE, no commit there).
    rows_deleted = dict.fromkeys(tables, 0)
    for name, (columns, json_columns) in _tables_holding(spark, tables, values).items():
        rows_deleted[name] = _erase_from_table(spark, tables[name], columns, json_columns, values)
    report = ErasureReport(
        erasure_id=str(uuid.uuid4()),
        requested_at=now,
        subjects_requested=requested,
        linked_identities=len(set(values) - direct),
        key_versions=ring.versions,
        rows_deleted=rows_deleted,
        run_id=run_id,
    )
    _append_erasure_log(spark, config, report)
    log.info(
        "erasure %s: %d subjects, %d rows deleted in %s",
        report.erasure_id,
        report.subjects_requested,
        report.total_rows_deleted,
        report.tables_touched,
    )
    return report


def _append_erasure_log(spark: SparkSession, config: SeglibConfig, report: ErasureReport) -> None:
    spec = Warehouse.of(config).spec(ERASURE_LOG)
    write_table(spark.createDataFrame([report.as_row()], ERASURE_LOG.schema), spec, mode="append")


# ---------------------------------------------------------------- vacuum


def vacuum_owned_tables(spark: SparkSession, config: SeglibConfig) -> dict[str, int | None]:
    """VACUUM every owned table with privacy.vacuum_retention_hours; -> files deleted per table (None: unknown)."""
    hours = config.privacy.vacuum_retention_hours
    result: dict[str, int | None] = {}
    allow_short = config.privacy.vacuum_allow_short_retention
    for name, location in existing_owned_tables(spark, config, "vacuum").items():
        before = delta_table(spark, location).history(1).select("version").first()[0]
        vacuum(spark, location, hours, allow_short_retention=allow_short)
        ends = (
            delta_table(spark, location)
            .history()
            .where((F.col("version") > before) & (F.col("operation") == "VACUUM END"))
            .select(F.col("operationMetrics")["numDeletedFiles"].cast("long").alias("n"))
            .first()
        )
        result[name] = int(ends["n"]) if ends is not None and ends["n"] is not None else None
    log.info("vacuumed %d tables with retention %sh", len(result), hours)
    return result
