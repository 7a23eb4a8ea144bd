"""RFM two ways on the same Parquet: seglib's Spark functions and a hand-written DuckDB query, and their diff.

The DuckDB SQL restates seglib/features/rfm.py independently (it does not call seglib), so agreement means both
sides implement the same definitions: only orders strictly before ``as_of`` 00:00 UTC with a subject count;
frequency counts completed orders in ``[cut-off - w days, cut-off)``; monetary sums ``net_amount`` (null as 0) of
every order in that window; recency is ``as_of`` minus the UTC day of the last completed order; aov_365d is
monetary_365d / frequency_365d, null without completed orders in 365 days.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.features.rfm import order_features, with_aov

WINDOWS = (30, 90, 365)
INT_COLUMNS = ("recency_days", *[f"frequency_{w}d" for w in WINDOWS])
MONEY_COLUMNS = (*[f"monetary_{w}d" for w in WINDOWS], "aov_365d")
RFM_COLUMNS = ("recency_days", *[f"frequency_{w}d" for w in WINDOWS], *[f"monetary_{w}d" for w in WINDOWS], "aov_365d")
MONEY_TOLERANCE = 1e-6
MICROS_PER_DAY = 86_400 * 1_000_000


def duckdb_rfm_sql(orders_glob: str, as_of: date, output_path: str) -> str:
    """COPY (RFM per subject) TO Parquet, in DuckDB SQL; times are compared as epoch microseconds (zone-free)."""
    as_of_day = calendar.timegm(as_of.timetuple()) // 86_400
    cutoff_us = as_of_day * MICROS_PER_DAY
    window_aggs = []
    for w in WINDOWS:
        start = cutoff_us - w * MICROS_PER_DAY
        window_aggs.append(f"count(*) FILTER (WHERE completed AND ts_us >= {start}) AS frequency_{w}d")
        window_aggs.append(f"CAST(coalesce(sum(net) FILTER (WHERE ts_us >= {start}), 0) AS DOUBLE) AS monetary_{w}d")
    aggs = ",\n        ".join(window_aggs)
    return f"""
COPY (
  WITH o AS (
    SELECT subject_id,
           epoch_us(order_ts) AS ts_us,
           status = 'completed' AS completed,
           coalesce(net_amount, 0) AS net
    FROM read_parquet('{orders_glob}')
    WHERE subject_id IS NOT NULL AND epoch_us(order_ts) < {cutoff_us}
  ),
  per_subject AS (
    SELECT subject_id,
        CAST({as_of_day} - max(CASE WHEN completed THEN ts_us // {MICROS_PER_DAY} END) AS INTEGER) AS recency_days,
        {aggs}
    FROM o
    GROUP BY subject_id
  )
  SELECT *, CASE WHEN frequency_365d > 0 THEN monetary_365d / frequency_365d END AS aov_365d
  FROM per_subject
) TO '{output_path}' (FORMAT parquet)
"""


def run_duckdb_rfm(orders_dir: str, as_of: date, output_path: str, threads: int) -> None:
    """Run the reference query in a fresh in-memory DuckDB with ``threads`` threads."""
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(duckdb_rfm_sql(f"{orders_dir}/*.parquet", as_of, output_path))


def spark_rfm(orders: DataFrame, as_of: date) -> DataFrame:
    """seglib's RFM group alone: the order features plus aov_365d, reduced to the compared columns."""
    return orders.transform(lambda df: order_features(df, as_of)).transform(with_aov).select("subject_id", *RFM_COLUMNS)


def run_spark_rfm(spark: SparkSession, orders_dir: str, as_of: date, output_dir: str) -> None:
    """Read the Parquet orders, compute RFM with seglib and write it to Parquet (a full evaluation)."""
    spark_rfm(spark.read.parquet(orders_dir), as_of).write.mode("overwrite").parquet(output_dir)


def _int_differs(a: Column, b: Column) -> Column:
    return ~a.eqNullSafe(b)


def _money_differs(a: Column, b: Column) -> Column:
    """Both null agree; one null differs; else differ beyond the tolerance."""
    both_null = a.isNull() & b.isNull()
    return ~both_null & F.coalesce(F.abs(a - b) > MONEY_TOLERANCE, F.lit(True))


@dataclass(frozen=True)
class Comparison:
    """Outcome of the full outer join of the two RFM results on subject_id."""

    spark_rows: int
    duckdb_rows: int
    only_spark: int
    only_duckdb: int
    mismatching_rows: int
    mismatches_by_column: dict[str, int]


def compare_rfm(spark_result: DataFrame, duckdb_result: DataFrame) -> Comparison:
    """One aggregate over the full outer join: rows present on one side only or differing in any RFM column."""
    left = spark_result.select("subject_id", *[F.col(c).alias(f"s_{c}") for c in RFM_COLUMNS], F.lit(1).alias("_s"))
    right = duckdb_result.select("subject_id", *[F.col(c).alias(f"d_{c}") for c in RFM_COLUMNS], F.lit(1).alias("_d"))
    joined = left.join(right, "subject_id", "full_outer")
    differs = {c: _int_differs(F.col(f"s_{c}"), F.col(f"d_{c}")) for c in INT_COLUMNS} | {
        c: _money_differs(F.col(f"s_{c}"), F.col(f"d_{c}")) for c in MONEY_COLUMNS
    }
    one_side = F.col("_s").isNull() | F.col("_d").isNull()
    any_diff = reduce(lambda a, b: a | b, differs.values(), one_side)

    def count_if(cond: Column) -> Column:
        return F.sum(F.when(cond, 1).otherwise(0)).cast("long")

    row = joined.agg(
        count_if(F.col("_s").isNotNull()).alias("spark_rows"),
        count_if(F.col("_d").isNotNull()).alias("duckdb_rows"),
        count_if(F.col("_d").isNull()).alias("only_spark"),
        count_if(F.col("_s").isNull()).alias("only_duckdb"),
        count_if(any_diff).alias("mismatching_rows"),
        *[count_if(cond & ~one_side).alias(f"bad_{c}") for c, cond in differs.items()],
    ).first()
    return Comparison(
        spark_rows=row["spark_rows"] or 0,
        duckdb_rows=row["duckdb_rows"] or 0,
        only_spark=row["only_spark"] or 0,
        only_duckdb=row["only_duckdb"] or 0,
        mismatching_rows=row["mismatching_rows"] or 0,
        mismatches_by_column={c: row[f"bad_{c}"] or 0 for c in RFM_COLUMNS},
    )
