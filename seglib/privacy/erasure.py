"""Right to erasure (GDPR art. 17 / CCPA deletion): delete a subject from every Delta table seglib owns, log it.

``forget`` pseudonymizes the requested raw ids with *every* key of the ring (data written before a rotation is
found too), adds the anonymous ids the silver identity map links to those customers, deletes matching rows from
every owned table that has an identity column, and appends one row to ``ops/erasure_log`` holding counts only
(no raw id, no pseudonym). Deleted rows survive in older Delta versions until ``vacuum_owned_tables`` runs past
``privacy.vacuum_retention_hours``.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglib.delta_io import Tables, delete_where, delta_table, read_table, table_exists, vacuum, write_table
from seglib.privacy.keys import KeyRing, load_key_ring
from seglib.privacy.pseudonymize import pseudonym_py, pseudonym_with_key

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger(__name__)

# Columns that hold a subject's pseudonym in owned tables (quarantine keeps pseudonyms under the raw names).
ERASURE_COLUMNS = ("subject_id", "anonymous_pseudonym", "customer_pseudonym", "customer_id", "anonymous_id")
# JSON payload columns searched for a pseudonym substring (ops/quarantine keeps each rejected row as row_json).
ERASURE_JSON_COLUMNS = ("row_json",)
ERASURE_LOG = ("ops", "erasure_log")
_PSEUDONYM_RE = re.compile(r"^[0-9a-f]{32}$")
_IN_LIST_CHUNK = 1000

ERASURE_LOG_SCHEMA = T.StructType(
    [
        T.StructField("erasure_id", T.StringType(), False),
        T.StructField("requested_at", T.TimestampType(), False),
        T.StructField("subjects_requested", T.LongType(), False),
        T.StructField("linked_identities", T.LongType(), False),
        T.StructField("key_versions", T.ArrayType(T.StringType()), False),
        T.StructField("tables_scanned", T.LongType(), False),
        T.StructField("tables_touched", T.ArrayType(T.StringType()), False),
        T.StructField("rows_deleted", T.MapType(T.StringType(), T.LongType()), False),
        T.StructField("total_rows_deleted", T.LongType(), False),
        T.StructField("run_id", T.StringType(), True),
    ]
)
ERASURE_LOG_COMMENTS = {
    "erasure_id": "Random uuid4 of this erasure; not derived from any identifier.",
    "requested_at": "When the erasure ran (the run's `now`).",
    "subjects_requested": "Distinct raw ids in the request (counts only: the log holds no identifier).",
    "linked_identities": "Anonymous ids linked to the requested customers by the identity map.",
    "key_versions": "Key versions used to derive pseudonyms.",
    "tables_scanned": "Owned tables with an identity column.",
    "tables_touched": "Tables where rows were deleted, relative to warehouse.path.",
    "rows_deleted": "Rows deleted per table (relative name -> rows), 0 for scanned tables without a match.",
    "total_rows_deleted": "Sum of rows_deleted.",
    "run_id": "Run that executed the erasure.",
}


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


# ---------------------------------------------------------------- discovery


def _is_uri(root: str) -> bool:
    return "://" in root or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", root) is not None


def _list_dirs(root: str) -> list[str]:
    """Sub-directories of a local path or (on Databricks) a URI via dbutils.fs; [] when it cannot be listed."""
    if not _is_uri(root):
        path = Path(root)
        return sorted(str(p) for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    try:
        from databricks.sdk.runtime import dbutils  # type: ignore[import-not-found]

        return sorted(f.path.rstrip("/") for f in dbutils.fs.ls(root) if f.isDir())
    except Exception as exc:
        log.warning("cannot list %s (%s): tables there are not discovered", root, type(exc).__name__)
        return []


def _find_delta_tables(directory: str, depth: int = 3) -> list[str]:
    children = _list_dirs(directory)
    if any(c.rstrip("/").endswith("_delta_log") for c in children):
        return [directory]
    if depth == 0:
        return []
    found: list[str] = []
    for child in children:
        if not Path(child.rstrip("/")).name.startswith(("_", ".")):
            found.extend(_find_delta_tables(child, depth - 1))
    return found


def _relative_name(root: str, location: str) -> str:
    """Table name relative to the warehouse root, e.g. ``silver/events`` (what logs and reports show)."""
    if _is_uri(root):
        return location.rstrip("/")[len(root) :].lstrip("/")
    return Path(os.path.relpath(location, root)).as_posix()


def discover_owned_tables(config: SeglibConfig) -> dict[str, str]:
    """Delta tables under warehouse.path by layer (relative name -> location), excluding raw and hidden folders."""
    root = config.warehouse.path.rstrip("/")
    excluded = set(config.privacy.erasure_excluded_layers)
    tables: dict[str, str] = {}
    for layer_dir in _list_dirs(root):
        layer = Path(layer_dir.rstrip("/")).name
        if layer in excluded or layer.startswith(("_", ".")):
            continue
        for location in _find_delta_tables(layer_dir):
            tables[_relative_name(root, location)] = location
    return dict(sorted(tables.items()))


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
    location = Tables(config.warehouse).location("silver", "identity_map")
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


def _erase_from_table(spark: SparkSession, location: str, values: list[str]) -> int | None:
    """Delete rows whose identity columns hold any of ``values``; None when the table has no identity column."""
    strings = [f.name for f in read_table(spark, location).schema.fields if isinstance(f.dataType, T.StringType)]
    columns = [c for c in strings if c in ERASURE_COLUMNS]
    json_columns = [c for c in strings if c in ERASURE_JSON_COLUMNS]
    if not columns and not json_columns:
        return None
    if not values:
        return 0
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
    requested, pseudonyms = _requested_pseudonyms(spark, subject_ids, ring)
    linked = _linked_anonymous(spark, config, pseudonyms)
    targets = pseudonyms.unionByName(linked).distinct()
    # Collected on purpose: the erasure set has the size of the request (plus a few linked devices), not of the
    # data, and literal IN-lists let Delta prune files; ids never leave this function.
    values = sorted(r["pseudonym"] for r in targets.collect())
    direct = {r["pseudonym"] for r in pseudonyms.collect()}
    rows_deleted: dict[str, int] = {}
    for name, location in discover_owned_tables(config).items():
        deleted = _erase_from_table(spark, location, values)
        if deleted is not None:
            rows_deleted[name] = deleted
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
    spec = Tables(config.warehouse).spec(
        *ERASURE_LOG,
        comment="Audit log of erasure requests: counts per table only, never an identifier or pseudonym.",
        column_comments=ERASURE_LOG_COMMENTS,
    )
    write_table(spark.createDataFrame([report.as_row()], ERASURE_LOG_SCHEMA), spec, mode="append")


# ---------------------------------------------------------------- vacuum


def vacuum_owned_tables(spark: SparkSession, config: SeglibConfig) -> dict[str, int | None]:
    """VACUUM every owned table with privacy.vacuum_retention_hours; -> files deleted per table (None: unknown)."""
    hours = config.privacy.vacuum_retention_hours
    result: dict[str, int | None] = {}
    for name, location in discover_owned_tables(config).items():
        before = delta_table(spark, location).history(1).select("version").first()[0]
        vacuum(spark, location, hours)
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
