"""Doubling silver data without a second generate + ingest: the copy is new subjects with the same distribution."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import TableSpec, read_table, table_ref, write_table
from seglib.privacy.pseudonymize import PSEUDONYM_HEX_CHARS
from seglib.tables import Warehouse, tables_in

# Every identifier column a silver table may hold; re-keying all of them keeps the copy's ids distinct.
REKEY_COLUMNS = ("subject_id", "anonymous_pseudonym", "event_id", "order_id", "session_id", "text_id")
COPY_PREFIX = "dup:"


def rekeyed(col: Column) -> Column:
    """A new pseudonym-shaped id derived from the old one (null stays null): same cardinality, no collisions."""
    return F.substring(F.sha2(F.concat(F.lit(COPY_PREFIX), col), 256), 1, PSEUDONYM_HEX_CHARS)


def with_rekeyed_copy(df: DataFrame) -> DataFrame:
    """The rows plus a copy of them whose identifier columns are re-keyed (twice the rows, twice the subjects)."""
    keys = [c for c in REKEY_COLUMNS if c in df.columns]
    return df.unionByName(df.withColumns({c: rekeyed(F.col(c)) for c in keys}))


def partition_columns(spark: SparkSession, location: str) -> list[str]:
    """The partition columns of an existing Delta table, so the doubled table is laid out like the original."""
    return list(spark.sql(f"DESCRIBE DETAIL {table_ref(location)}").first()["partitionColumns"])


def write_doubled_silver(spark: SparkSession, source: Warehouse, target: Warehouse) -> dict[str, int]:
    """Write every silver table the features read as (original + re-keyed copy); return the new row counts."""
    counts: dict[str, int] = {}
    for declared in tables_in("silver"):
        name = declared.name
        src = source.location(declared)
        spec = TableSpec(location=target.location(declared), partition_by=partition_columns(spark, src))
        write_table(with_rekeyed_copy(read_table(spark, src)), spec, mode="overwrite", overwrite_schema=True)
        counts[name] = read_table(spark, spec.location).count()
    return counts


def sampled_silver(silver: Mapping[str, DataFrame], prefix: str = "00") -> dict[str, DataFrame]:
    """The subjects whose pseudonym starts with ``prefix`` (1/256 for two hex digits): a cheap JVM warm-up input."""
    return {name: df.where(F.col("subject_id").startswith(prefix)) for name, df in silver.items()}
