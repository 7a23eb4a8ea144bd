"""All Delta reads and writes go through here: locations, table properties, comments, MERGE, registration.

A table is addressed by a *location*: a path/URI (anything holding ``/`` or ``:``) or a catalog name
(``schema.table``). Writers set seglib's table properties and column comments so that warehouses and other
engines reading these tables see what each column means.

A table holding pseudonyms records the key version that produced them (:data:`KEY_VERSION_PROPERTY`, see
:class:`TableSpec`): every write stamps it, and a write that would add pseudonyms of one key version to a table
recording another is refused (:class:`KeyVersionError`), so history never mixes keys and ``seg rekey`` knows which key
wrote each table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seglib.errors import SeglibError
from seglib.frames import first_row

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Applied to every table seglib creates. Change data feed lets downstream stages read increments. (Column mapping is
# left off on purpose: Delta blocks writes to CDF tables after a column drop/rename under column mapping.)
DEFAULT_TABLE_PROPERTIES: dict[str, str] = {
    "delta.enableChangeDataFeed": "true",
}


# The pseudonym key version (a ring label such as v2, never key material) whose HMAC produced a table's pseudonyms.
KEY_VERSION_PROPERTY = "seglib.pseudonym.key_version"


class KeyVersionError(SeglibError):
    """A write would put pseudonyms of one key version into a table holding another's (or its sources disagree):
    nothing was written; ``seg rekey`` brings the tables to one key first."""


def is_path(location: str) -> bool:
    return "/" in location or ":" in location


def _quote_name(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def table_ref(location: str) -> str:
    """SQL reference to a table: ``delta.`/path``` or a quoted catalog name."""
    return f"delta.`{location}`" if is_path(location) else _quote_name(location)


def read_table(
    spark: SparkSession, location: str, version: int | None = None, timestamp: str | None = None
) -> DataFrame:
    """Read a Delta table by path or catalog name, optionally at a past version or timestamp (time travel)."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    if timestamp is not None:
        reader = reader.option("timestampAsOf", timestamp)
    return reader.load(location) if is_path(location) else reader.table(location)


def table_exists(spark: SparkSession, location: str) -> bool:
    from delta.tables import DeltaTable

    if is_path(location):
        return DeltaTable.isDeltaTable(spark, location)
    return spark.catalog.tableExists(location)


def delta_table(spark: SparkSession, location: str):
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, location) if is_path(location) else DeltaTable.forName(spark, location)


def current_version(spark: SparkSession, location: str) -> int | None:
    if not table_exists(spark, location):
        return None
    return delta_table(spark, location).history(1).select("version").first()[0]


@dataclass(frozen=True)
class TableSpec:
    """What a written table is: where, its description, column comments, partitioning, extra properties."""

    location: str
    comment: str = ""
    column_comments: Mapping[str, str] = field(default_factory=dict)
    partition_by: Sequence[str] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    register_as: str | None = None  # catalog name to register a path table under
    # A table holding pseudonyms records their key version (KEY_VERSION_PROPERTY): ``key_version`` when the writer
    # minted them (ingest, under the ring's active key; rekey), else the version recorded on ``key_version_from``, the
    # tables they were copied from (silver). Both unset: the table holds no pseudonyms, nothing is recorded or checked.
    key_version: str | None = None
    key_version_from: tuple[str, ...] = ()


def recorded_key_version(spark: SparkSession, location: str) -> str | None:
    """The pseudonym key version an existing table records (None: none recorded)."""
    detail = first_row(spark.sql(f"DESCRIBE DETAIL {table_ref(location)}").select("properties"))
    return (detail["properties"] or {}).get(KEY_VERSION_PROPERTY)


def _inherited_key_version(spark: SparkSession, spec: TableSpec) -> str | None:
    """The one key version the existing ``spec.key_version_from`` tables record (None: none records one)."""
    found = {}
    for source in spec.key_version_from:
        if source != spec.location and table_exists(spark, source):
            version = recorded_key_version(spark, source)
            if version is not None:
                found[source] = version
    if len(set(found.values())) > 1:
        at = ", ".join(f"{source} at {version}" for source, version in found.items())
        raise KeyVersionError(
            f"cannot write {spec.location}: the tables its pseudonyms come from record different key versions ({at}), "
            "a rekey stopped half-way: run `seg rekey --from-version <the older version>` again (nothing was written)"
        )
    return next(iter(found.values()), None)


def _key_stamp(spark: SparkSession, spec: TableSpec, exists: bool, incremental: bool) -> tuple[str | None, str | None]:
    """(key version this write records, key version the table records now) for a table holding pseudonyms; (None,
    None) for one without (or whose sources record no version yet: nothing to record or check).

    An ``incremental`` write (append, replaceWhere, MERGE: rows already there stay) into a table recording another key
    version is refused, nothing written: it would mix pseudonyms that do not join. A full overwrite replaces every row
    and restamps. A table recording no version (written before versions were recorded) is taken over: the run that
    mints pseudonyms (ingest) refuses beforehand when the ring holds old keys, see seglib.privacy.rekey.
    """
    version = spec.key_version or (_inherited_key_version(spark, spec) if spec.key_version_from else None)
    if version is None or not exists:
        return version, None
    recorded = recorded_key_version(spark, spec.location)
    if incremental and recorded not in (None, version):
        raise KeyVersionError(
            f"{spec.location} records pseudonym key {recorded} but this write's pseudonyms are under key {version}: "
            f"run `seg rekey --from-version {recorded}` first (nothing was written)"
        )
    return version, recorded


def write_table(
    df: DataFrame,
    spec: TableSpec,
    mode: str = "overwrite",
    replace_where: str | None = None,
    overwrite_schema: bool = False,
) -> None:
    """Write ``df`` as Delta at ``spec.location`` with seglib's properties and comments.

    ``replace_where`` atomically replaces only the rows matching the predicate (e.g. one snapshot) of an existing
    table. A table holding pseudonyms records their key version; an append or ``replace_where`` into a table recording
    another one raises :class:`KeyVersionError` before writing (see :func:`_key_stamp`).
    """
    spark = df.sparkSession
    df = with_column_comments(df, spec.column_comments)
    exists = table_exists(spark, spec.location)
    key_version, _ = _key_stamp(spark, spec, exists, incremental=mode != "overwrite" or replace_where is not None)
    props = {**DEFAULT_TABLE_PROPERTIES, **spec.properties}
    if key_version is not None:
        props[KEY_VERSION_PROPERTY] = key_version
    if not exists:
        _create_table(df, spec, props, replace=mode != "append")  # the stamp is in the creating commit
        return
    writer = df.write.format("delta").mode(mode)
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    if replace_where:
        writer = writer.option("replaceWhere", replace_where)
    if overwrite_schema:
        writer = writer.option("overwriteSchema", "true")
    elif mode == "append" or replace_where:
        # New nullable columns (a newer seglib) join the table; earlier snapshots read them as null.
        writer = writer.option("mergeSchema", "true")
    writer.save(spec.location) if is_path(spec.location) else writer.saveAsTable(spec.location)
    # Delta sets a table property of an existing table only in a commit of its own (writer options become properties
    # when a table is created only; REPLACE TABLE AS SELECT would drop its other properties and its identity), so a
    # changed stamp (a table taken over, an overwrite restamping) is an ALTER right after the data commit. Safe: the
    # run lock keeps other seglib writers out, and a crash in between leaves the earlier stamp on new pseudonyms, which
    # refuses the next incremental write until `seg rekey` runs, a no-op on them (they map to nothing) that restamps.
    # Never before the write: new stamp on old pseudonyms would make rekey skip them.
    apply_metadata(spark, spec, props)


def _create_table(df: DataFrame, spec: TableSpec, props: Mapping[str, str], replace: bool) -> None:
    """A new table in one commit: data, properties, table comment and column comments (no ALTER afterwards).

    ``replace``: a table created by a concurrent writer meanwhile is replaced, as an overwrite would; an append
    fails instead of losing rows.
    """
    from pyspark.sql import functions as F

    writer = df.writeTo(table_ref(spec.location)).using("delta")
    for key, value in props.items():
        writer = writer.tableProperty(key, value)
    if spec.comment:
        writer = writer.tableProperty("comment", spec.comment)
    if spec.partition_by:
        writer = writer.partitionedBy(*[F.col(c) for c in spec.partition_by])
    writer.createOrReplace() if replace else writer.create()
    if spec.register_as and is_path(spec.location):
        _register(df.sparkSession, spec.register_as, spec.location)


def with_column_comments(df: DataFrame, comments: Mapping[str, str]) -> DataFrame:
    """Put column comments into the schema metadata, which Delta stores with the write (no ALTER commit each)."""
    for struct_field in df.schema.fields:
        text = comments.get(struct_field.name)
        if text is not None and struct_field.metadata.get("comment") != text:
            df = df.withMetadata(struct_field.name, {**struct_field.metadata, "comment": text})
    return df


def apply_metadata(spark: SparkSession, spec: TableSpec, props: Mapping[str, str] | None = None) -> None:
    """Set table properties, the table comment and column comments, changing only what differs.

    Each ALTER is a Delta commit, so unchanged metadata is skipped: repeated writes stay cheap.
    """
    ref = table_ref(spec.location)
    wanted = dict(props) if props is not None else {**DEFAULT_TABLE_PROPERTIES, **spec.properties}
    if spec.comment:
        wanted["comment"] = spec.comment
    detail = first_row(spark.sql(f"DESCRIBE DETAIL {ref}").select("description", "properties"))
    current = {**(detail["properties"] or {}), "comment": detail["description"]}
    changed = {k: v for k, v in wanted.items() if current.get(k) != v}
    if changed:
        kv = ", ".join(f"'{k}' = '{_sql_str(v)}'" for k, v in changed.items())
        spark.sql(f"ALTER TABLE {ref} SET TBLPROPERTIES ({kv})")
    fields = {f.name: f.metadata.get("comment") for f in read_table(spark, spec.location).schema.fields}
    for column, text in spec.column_comments.items():
        if column in fields and fields[column] != text:
            spark.sql(f"ALTER TABLE {ref} ALTER COLUMN `{column}` COMMENT '{_sql_str(text)}'")
    if spec.register_as and is_path(spec.location):
        _register(spark, spec.register_as, spec.location)


def _register(spark: SparkSession, name: str, location: str) -> None:
    spark.sql(f"CREATE TABLE IF NOT EXISTS {_quote_name(name)} USING DELTA LOCATION '{location}'")


def _sql_str(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("'", "\\'")


def merge_condition(keys: Sequence[str]) -> str:
    """The MERGE join of target ``t`` and source ``s`` on ``keys`` (null-safe: a null key matches a null key)."""
    if not keys:
        raise ValueError("a MERGE needs at least one key column")
    return " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)


def merge_upsert(
    source: DataFrame,
    spec: TableSpec,
    keys: Sequence[str],
    update_condition: str | None = None,
    delete_condition: str | None = None,
    delete_unmatched: bool | str = False,
) -> None:
    """Upsert ``source`` into the table on ``keys`` (creating it on first use), in one MERGE commit.

    ``update_condition`` (SQL over ``t``/``s``) limits which matches are updated, e.g. only newer rows;
    ``delete_condition`` deletes matched target rows instead (e.g. ``s.is_deleted``); ``delete_unmatched`` deletes
    the target rows the source does not hold (True: all of them; a SQL condition over ``t``: those that meet it),
    so the table becomes the source (a snapshot) or a re-run rolls back what an earlier run added. A table holding
    pseudonyms recording another key version than the source's raises :class:`KeyVersionError`, nothing merged.
    """
    spark = source.sparkSession
    if not table_exists(spark, spec.location):
        write_table(source, spec, mode="overwrite")
        return
    key_version, recorded = _key_stamp(spark, spec, exists=True, incremental=True)
    builder = delta_table(spark, spec.location).alias("t").merge(source.alias("s"), merge_condition(keys))
    if delete_condition:
        builder = builder.whenMatchedDelete(condition=delete_condition)
    builder = builder.whenMatchedUpdateAll(condition=update_condition).whenNotMatchedInsertAll(
        condition=f"NOT ({delete_condition})" if delete_condition else None
    )
    if delete_unmatched:
        condition = None if delete_unmatched is True else delete_unmatched
        builder = builder.whenNotMatchedBySourceDelete(condition=condition)
    builder.execute()
    if key_version is not None and key_version != recorded:  # a table taken over: see write_table on the ALTER
        stamp = f"'{KEY_VERSION_PROPERTY}' = '{_sql_str(key_version)}'"
        spark.sql(f"ALTER TABLE {table_ref(spec.location)} SET TBLPROPERTIES ({stamp})")


def delete_where(spark: SparkSession, location: str, condition: str) -> None:
    """Delete the rows matching a SQL condition (no-op if the table does not exist)."""
    if table_exists(spark, location):
        delta_table(spark, location).delete(condition)


RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"


def vacuum(spark: SparkSession, location: str, retention_hours: float, allow_short_retention: bool = False) -> None:
    """Physically remove files no longer referenced by versions newer than ``retention_hours``.

    Delta refuses retentions under its safety interval (7 days) because a concurrent reader or writer may still need
    the files; ``allow_short_retention`` lifts the check for this call only (the session setting is restored).
    """
    if not table_exists(spark, location):
        return
    if not allow_short_retention:
        delta_table(spark, location).vacuum(retention_hours)
        return
    previous = spark.conf.get(RETENTION_CHECK_CONF, None)
    spark.conf.set(RETENTION_CHECK_CONF, "false")
    try:
        delta_table(spark, location).vacuum(retention_hours)
    finally:
        if previous is None:
            spark.conf.unset(RETENTION_CHECK_CONF)
        else:
            spark.conf.set(RETENTION_CHECK_CONF, previous)
