"""The raw input contract: expected columns and types per raw table, and the schema-drift checks on it.

Extra raw columns are tolerated (kept in raw, ignored downstream); a missing *required* column fails fast with
:class:`MissingColumnError`; a missing optional column is added as a typed null so downstream schemas stay stable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from seglib.errors import SeglibError
from seglib.tables import RAW_INPUTS, Col, raw_input


class IngestError(SeglibError):
    """Base class of ingest failures that should stop the run with a clear message."""


class MissingColumnError(IngestError):
    """A raw table lacks a column the ingest stage cannot work without."""

    def __init__(self, table: str, column: str, available: list[str]):
        self.table = table
        self.column = column
        super().__init__(
            f"raw table {table!r} is missing required column {column!r} (has: {', '.join(sorted(available))})"
        )


class InvariantError(IngestError):
    """Row accounting does not add up: rows read != accepted + quarantined + duplicates."""


# The raw input contract, as declared in seglib.tables: name, type and whether ingest requires the column.
RAW_CONTRACT: dict[str, tuple[Col, ...]] = {name: raw_input(name).columns for name in RAW_INPUTS}

# Struct of the raw values of the columns whose raw type differs from the contract (the others are the typed columns
# unchanged): with the typed columns it gives the row exactly as read, for quarantine payloads. Only drifted columns:
# a full copy of every row doubled what ingest caches, and complex columns cache slowly.
RAW_COLUMN = "_raw"


def contract_columns(table: str) -> list[str]:
    return [c.name for c in RAW_CONTRACT[table]]


def contract_schema(table: str) -> str:
    """The contract as a DDL schema string (an absent optional input is read as an empty frame of it)."""
    return ", ".join(f"`{c.name}` {c.type}" for c in RAW_CONTRACT[table])


def check_required_columns(df: DataFrame, table: str) -> DataFrame:
    """Fail fast, naming table and column, when a required contract column is absent."""
    present = set(df.columns)
    for col in RAW_CONTRACT[table]:
        if col.required and col.name not in present:
            raise MissingColumnError(table, col.name, list(present))
    return df


def try_cast(name: str, type_: str) -> Column:
    """The column ``name`` cast to ``type_``, null where it does not convert. SQL ``TRY_CAST`` rather than
    ``Column.try_cast``, which Spark 3.5 lacks (seglib runs on 3.5 and 4.1)."""
    return F.expr(f"TRY_CAST(`{name}` AS {type_})")


def _typed(name: str, type_: str, present: dict[str, str]) -> Column:
    if name not in present:
        return F.lit(None).cast(type_).alias(name)
    if present[name] == type_.replace(" ", ""):
        return F.col(f"`{name}`")
    return try_cast(name, type_).alias(name)


def _drifted(table: str, present: dict[str, str]) -> list[str]:
    """Contract columns present in the raw frame with another type than the contract's."""
    return [c.name for c in RAW_CONTRACT[table] if c.name in present and present[c.name] != c.type.replace(" ", "")]


def conform_to_contract(df: DataFrame, table: str) -> DataFrame:
    """Contract columns cast to contract types (un-castable -> null), extras dropped, the raw values of drifted
    columns kept in ``_raw`` (see ``as_read``); no ``_raw`` when no column drifted (Spark 3.5 rejects an empty
    struct)."""
    check_required_columns(df, table)
    present = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    drifted = _drifted(table, present)
    raw = [F.struct(*[F.col(f"`{c}`") for c in drifted]).alias(RAW_COLUMN)] if drifted else []
    return df.select(*[_typed(c.name, c.type, present) for c in RAW_CONTRACT[table]], *raw)


def as_read(conformed: DataFrame, table: str, raw_columns: Sequence[str]) -> list[Column]:
    """The contract columns of the raw row exactly as read (``raw_columns``: the raw frame's columns): a drifted
    column's raw value from ``_raw``, any other column as typed (its type already was the contract's)."""
    raw = conformed.schema[RAW_COLUMN].dataType if RAW_COLUMN in conformed.columns else None
    drifted = set(cast(StructType, raw).fieldNames()) if raw is not None else set()  # _raw: conform's struct
    return [
        (F.col(f"`{RAW_COLUMN}`.`{c}`") if c in drifted else F.col(f"`{c}`")).alias(c)
        for c in contract_columns(table)
        if c in raw_columns
    ]


def type_rule_sql(df: DataFrame, table: str) -> dict[str, str]:
    """Implicit castability rules (name -> SQL) for contract columns whose raw type differs from the contract."""
    present = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return {f"{c}_type": f"NOT (`{RAW_COLUMN}`.`{c}` IS NOT NULL AND `{c}` IS NULL)" for c in _drifted(table, present)}
