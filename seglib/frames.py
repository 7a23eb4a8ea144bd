"""Typed helpers over Spark DataFrames."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, Row


def first_row(df: DataFrame) -> Row:
    """``df.first()`` where a row is certain: a global aggregation (``agg`` without ``groupBy``) and ``DESCRIBE
    DETAIL`` return exactly one row, even over no input rows. An empty ``df`` raises ValueError (``first()`` would
    return None, which the caller would then index)."""
    row = df.first()
    if row is None:
        raise ValueError("expected at least one row, the DataFrame is empty")
    return row
