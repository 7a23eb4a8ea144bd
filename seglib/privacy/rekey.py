"""Key rotation: re-key every owned table from an old key version to the active one, so history joins keep working.

Pseudonyms carry no key version (they stay compact 32-hex join keys); instead, after adding a new key first in the
ring, this job builds an old -> new mapping from the raw identifiers and rewrites the pseudonym columns of every
owned table. Each rewritten table records ``seglib.pseudonym.key_version`` as a table property (as every write of
a table holding pseudonyms does, see seglib.delta_io); a table that already records the active version is left alone,
so a rekey that stopped half-way can simply be run again. ``seg rekey --from-version VERSION`` runs it under the
warehouse run lock. :func:`refuse_mixed_keys` is the other side: ingest, about to mint pseudonyms under the active
key, refuses while a table is still at another one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglib.delta_io import (
    KEY_VERSION_PROPERTY,
    KeyVersionError,
    TableSpec,
    read_table,
    recorded_key_version,
    table_exists,
    write_table,
)
from seglib.errors import SeglibError
from seglib.privacy.erasure import existing_owned_tables, owned_tables
from seglib.privacy.keys import KeyRing, PseudonymKey, load_key_ring
from seglib.privacy.pseudonymize import pseudonym_with_key
from seglib.tables import RAW_INPUTS, REGISTRY, Role, Warehouse, raw_input

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger(__name__)


class RekeyError(SeglibError):
    """A rekey cannot run as asked (a version not in the ring or already active, no raw identifiers to map, no
    table at the old version): nothing was re-keyed."""


@dataclass(frozen=True)
class TableRekey:
    """One owned table with pseudonym columns: what the rekey did to it."""

    table: str
    columns: tuple[str, ...]
    before: str | None  # key version the table recorded before (None: never re-keyed, written under the first key)
    after: str | None  # key version it records now
    rows: int | None  # rows rewritten; None when the table was left alone
    left_because: str = ""  # why it was left alone (empty when re-keyed)


@dataclass(frozen=True)
class RekeyReport:
    from_version: str
    to_version: str
    tables: tuple[TableRekey, ...]
    raw_ids: int | None = None  # distinct raw identifiers the old -> new mapping was built from (None: not needed)

    @property
    def rekeyed(self) -> tuple[TableRekey, ...]:
        return tuple(t for t in self.tables if t.rows is not None)


def rotation_keys(ring: KeyRing, from_version: str) -> tuple[PseudonymKey, PseudonymKey]:
    """(old, new) keys of a rotation from ``from_version`` to the ring's active key; :class:`RekeyError` if the
    version is not in the ring or is the active one."""
    if from_version not in ring.versions:
        raise RekeyError(
            f"key version {from_version!r} is not in the key ring (versions {', '.join(ring.versions)}, active "
            f"{ring.active.version}, {ring.source or 'no source'}): keep the old key in the ring, after the new one"
        )
    if from_version == ring.active.version:
        raise RekeyError(
            f"key {from_version} is the active key (first in the ring {', '.join(ring.versions)}): put the new key "
            f"first ('v2:<new hex>,{from_version}:<old hex>') and re-key from {from_version}"
        )
    return ring.get(from_version), ring.active


def raw_identifiers(spark: SparkSession, config: SeglibConfig) -> DataFrame:
    """Every distinct raw identifier in the raw input tables, as [raw_id]."""
    parts = []
    wh = Warehouse.of(config)
    for name in RAW_INPUTS:
        declared = raw_input(name)
        location = wh.location(declared)
        if not table_exists(spark, location):
            continue
        df = read_table(spark, location)
        ids = [c for c in declared.columns_with(Role.RAW_ID) if c in df.columns]
        parts += [df.select(F.col(c).cast("string").alias("raw_id")) for c in ids]
    if not parts:
        return spark.createDataFrame([], "raw_id string")
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.where(F.col("raw_id").isNotNull()).distinct()


def rekey_mapping(raw_ids: DataFrame, old: PseudonymKey, new: PseudonymKey) -> DataFrame:
    """[old_pseudonym, new_pseudonym] for every raw id (one row per old pseudonym)."""
    return (
        raw_ids.select(
            pseudonym_with_key(F.col("raw_id"), old).alias("old_pseudonym"),
            pseudonym_with_key(F.col("raw_id"), new).alias("new_pseudonym"),
        )
        .where(F.col("old_pseudonym").isNotNull())
        .dropDuplicates(["old_pseudonym"])
    )


def rekey_frame(df: DataFrame, mapping: DataFrame, columns: list[str]) -> DataFrame:
    """Replace old pseudonyms by new ones in ``columns``; values without a mapping are kept."""
    for column in columns:
        m = mapping.select(F.col("old_pseudonym").alias("_old"), F.col("new_pseudonym").alias("_new"))
        df = (
            df.join(m, df[column] == m["_old"], "left")
            .withColumn(column, F.coalesce(F.col("_new"), F.col(column)))
            .drop("_old", "_new")
        )
    return df


def refuse_mixed_keys(spark: SparkSession, config: SeglibConfig, ring: KeyRing) -> None:
    """Before a run mints pseudonyms under ``ring.active`` (ingest), :class:`KeyVersionError` if an existing owned
    table holding pseudonyms records another key version, or records none while the ring holds old keys (which key
    wrote it cannot be told): new pseudonyms would not join it. Checked before anything is written, whatever the
    mode: a full refresh rewrites silver, not the history downstream. With one key, an unrecorded table is taken to
    be at it (written before versions were recorded) and is stamped by its next write."""
    active, several = ring.active.version, len(ring.keys) > 1
    behind = {}
    for name, location in owned_tables(config).items():
        if REGISTRY[name].holds_pseudonyms and table_exists(spark, location):
            recorded = recorded_key_version(spark, location)
            if recorded != active and (recorded is not None or several):
                behind[name] = recorded
    if not behind:
        return
    at = ", ".join(f"{name} at {version or 'unrecorded'}" for name, version in behind.items())
    old = sorted({v for v in behind.values() if v is not None}) or list(ring.versions[1:])
    rekey = f"--from-version {old[0]}" if len(old) == 1 else f"--from-version V for each V of {', '.join(old)}"
    raise KeyVersionError(
        f"the active pseudonym key is {active} but owned tables are at other keys ({at}): run `seg rekey {rekey}` "
        "first, so new pseudonyms join their history (nothing was written)"
    )


def rekey_owned_tables(
    spark: SparkSession,
    config: SeglibConfig,
    from_version: str,
    raw_ids: DataFrame | None = None,
    key_ring: KeyRing | None = None,
) -> RekeyReport:
    """Rewrite every owned table's pseudonym columns from ``from_version`` to the active key.

    A table is re-keyed when it records ``from_version`` or no version (written before any rekey, so taken to be at
    ``from_version``); one that records the active version is left alone (already done), and so is one at another
    old version (re-key that version separately). Nothing is written, and :class:`RekeyError` says why, when no
    table has pseudonym columns, when tables are left at other versions but none is at ``from_version``, when a
    table records no version and the ring holds more than one old key, or when the raw inputs hold no identifier to
    build the mapping from. Pseudonyms without a raw id stay as they are. The caller holds the warehouse lock.
    """
    ring = key_ring or load_key_ring(config.privacy)
    old, new = rotation_keys(ring, from_version)
    plan: list[TableRekey] = []
    for name, location in existing_owned_tables(spark, config, "rekey").items():
        declared = REGISTRY[name].columns_with(Role.SUBJECT, Role.PSEUDONYM)
        schema = read_table(spark, location).schema
        columns = tuple(f.name for f in schema.fields if f.name in declared and isinstance(f.dataType, T.StringType))
        if not columns:
            continue
        before = recorded_key_version(spark, location)
        left = ""
        if before == new.version:
            left = f"already at the active key {new.version}"
        elif before not in (None, old.version):
            left = f"recorded at key {before}, not {old.version}: re-key from {before} separately"
        plan.append(TableRekey(name, columns, before, before if left else None, None, left))
    if not plan:
        raise RekeyError(
            f"no table with pseudonym columns exists under warehouse.path={config.warehouse.path}; "
            "check warehouse.path (nothing was re-keyed)"
        )
    todo = [t for t in plan if not t.left_because]
    unrecorded = [t.table for t in todo if t.before is None]
    if unrecorded and len(ring.keys) > 2:
        raise RekeyError(
            f"no key version recorded on {', '.join(unrecorded)} and the ring holds several old keys "
            f"({', '.join(ring.versions[1:])}), so which one wrote them cannot be told: re-key with a ring of only the "
            f"active key and the one they were written under ('{new.version}:<hex>,<old version>:<hex>')"
        )
    elsewhere = [t for t in plan if t.before not in (None, old.version, new.version)]
    if not todo and elsewhere:
        at = ", ".join(f"{t.table} at {t.before}" for t in elsewhere)
        raise RekeyError(f"no owned table is at key {old.version} ({at}): re-key from the version they record")
    if not todo:
        return RekeyReport(old.version, new.version, tuple(plan))
    ids = raw_ids if raw_ids is not None else raw_identifiers(spark, config)
    id_count = ids.count()
    if not id_count:
        raise RekeyError(
            "the raw input tables hold no identifier to map old pseudonyms to new ones ("
            + ", ".join(Warehouse.of(config).location(raw_input(n)) for n in RAW_INPUTS)
            + "); nothing was re-keyed"
        )
    mapping = rekey_mapping(ids, old, new)
    done: list[TableRekey] = []
    for entry in plan:
        if entry.left_because:
            done.append(entry)
            continue
        location = Warehouse.of(config).location(entry.table)
        table = read_table(spark, location)
        rekeyed = rekey_frame(table, mapping, list(entry.columns)).select(*table.columns)
        spec = TableSpec(location=location, key_version=new.version)  # an overwrite: restamps, nothing checked
        write_table(rekeyed, spec, mode="overwrite")
        rows = read_table(spark, location).count()
        done.append(TableRekey(entry.table, entry.columns, entry.before, new.version, rows))
        log.info("re-keyed %s (%s) from %s to %s", entry.table, ", ".join(entry.columns), old.version, new.version)
    return RekeyReport(old.version, new.version, tuple(done), id_count)


def render_rekey(report: RekeyReport) -> str:
    """What ``seg rekey`` prints: one line per table with pseudonym columns, or that there was nothing to do."""
    if not report.rekeyed:
        return f"seg rekey: every owned table already records the active key {report.to_version}: nothing to re-key"
    lines = [
        f"seg rekey: key {report.from_version} -> {report.to_version}, mapping built from {report.raw_ids} raw "
        f"identifiers; re-keyed {len(report.rekeyed)} of {len(report.tables)} tables with pseudonym columns",
        f"{'table':<34} {'rows':>10}  {'key before -> after':<22} columns",
    ]
    for t in report.tables:
        before = t.before or "unrecorded"
        if t.rows is None:
            lines.append(f"{t.table:<34} {'-':>10}  {'left at ' + before:<22} ({t.left_because})")
        else:
            lines.append(f"{t.table:<34} {t.rows:>10}  {before + ' -> ' + str(t.after):<22} {', '.join(t.columns)}")
    return "\n".join(lines)


__all__ = [
    "KEY_VERSION_PROPERTY",  # defined in seglib.delta_io, which stamps it on every write
    "RekeyError",
    "RekeyReport",
    "TableRekey",
    "raw_identifiers",
    "refuse_mixed_keys",
    "rekey_frame",
    "rekey_mapping",
    "rekey_owned_tables",
    "render_rekey",
    "rotation_keys",
]
