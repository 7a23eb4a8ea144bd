"""Key rotation: re-key every owned table from an old key version to the active one, so history joins keep working.

Pseudonyms carry no key version (they stay compact 32-hex join keys); instead, after adding a new key first in the
ring, this job builds an old -> new mapping from the raw identifiers and rewrites the pseudonym columns of every
owned table. Each rewritten table records ``seglib.pseudonym.key_version`` as a table property.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglib.delta_io import TableSpec, read_table, table_exists, write_table
from seglib.privacy.erasure import existing_owned_tables
from seglib.privacy.keys import KeyRing, PseudonymKey, load_key_ring
from seglib.privacy.pseudonymize import pseudonym_with_key
from seglib.tables import RAW_INPUTS, REGISTRY, Role, Warehouse, raw_input

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger(__name__)

KEY_VERSION_PROPERTY = "seglib.pseudonym.key_version"


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


def rekey_owned_tables(
    spark: SparkSession,
    config: SeglibConfig,
    from_version: str,
    raw_ids: DataFrame | None = None,
    key_ring: KeyRing | None = None,
) -> dict[str, list[str]]:
    """Rewrite every owned table's pseudonym columns from ``from_version`` to the active key; -> columns per table."""
    ring = key_ring or load_key_ring(config.privacy)
    old, new = ring.get(from_version), ring.active
    if old.version == new.version:
        raise ValueError(f"key {from_version} is already the active key: nothing to re-key")
    ids = raw_ids if raw_ids is not None else raw_identifiers(spark, config)
    mapping = rekey_mapping(ids, old, new)
    done: dict[str, list[str]] = {}
    for name, location in existing_owned_tables(spark, config, "rekey").items():
        declared = REGISTRY[name].columns_with(Role.SUBJECT, Role.PSEUDONYM)
        table = read_table(spark, location)
        columns = [f.name for f in table.schema.fields if f.name in declared and isinstance(f.dataType, T.StringType)]
        if not columns:
            continue
        rekeyed = rekey_frame(table, mapping, columns).select(*table.columns)
        spec = TableSpec(location=location, properties={KEY_VERSION_PROPERTY: new.version})
        write_table(rekeyed, spec, mode="overwrite")
        done[name] = columns
        log.info("re-keyed %s (%s) from %s to %s", name, ", ".join(columns), old.version, new.version)
    return done
