"""Real transaction data as seglib's raw tables: the CDNOW master file shipped by the ``lifetimes`` package.

CDNOW (Fader & Hardie's classic BTYD data set): every purchase of the 23,570 customers who first bought at the CD
retailer CDNOW in the first quarter of 1997, up to the end of June 1998; one line per transaction (customer, day,
number of CDs, dollar value), 69,659 lines. It is an orders-only source, written here as a shop that exports its
orders plus an account creation would look:

* ``raw_orders``: one completed USD order per line, at 12:00 UTC of its day (lines of one customer and day a minute
  apart, in file order); ``amount`` the dollar value, ``items`` the number of CDs, no product category.
* ``raw_crm_customers``: one version per customer, created at the first purchase (``signup_date`` its day), not
  deleted; no PII, no plan (null), no other attribute.
* ``raw_consents``: every customer grants every purpose of ``purposes`` (default: all three) at the first purchase.
* ``raw_events``: one ``login`` event per customer at the first purchase (anonymous id ``cdnow-<customer_id>``).
* ``raw_texts``: empty (the table exists with the contract's schema; ingest also accepts it absent).

Dates may be shifted by a whole number of weeks (weekdays are kept) so the data ends on or just before a chosen day
(``ends_near``); without a shift they keep their 1997-1998 dates. The file is read from the installed package's
files (``importlib.metadata``), without importing ``lifetimes`` (its code does not run on current pandas/scipy).

Usage (the locations as ``stage_generate`` gets them)::

    wh = Warehouse.of(cfg)
    locations = {name: wh.location(f"raw/{name}") for name in RAW_INPUTS}
    write_cdnow_raw_tables(spark, locations, customers=5000, ends_near=date(2026, 11, 1))
    as_of = cdnow_last_day(ends_near=date(2026, 11, 1)) + timedelta(days=1)  # first snapshot seeing every order
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("benchmarks.real_data")

CDNOW_FILE = "lifetimes/datasets/CDNOW_master.txt"
CDNOW_FIRST_DAY = date(1997, 1, 1)
CDNOW_LAST_DAY = date(1998, 6, 30)
CDNOW_CUSTOMERS = 23_570
CONSENT_PURPOSES = ("analytics", "personalization", "marketing_email")


def cdnow_path() -> Path:
    """Path of CDNOW_master.txt inside the installed ``lifetimes`` distribution (the package is not imported)."""
    try:
        path = Path(str(distribution("lifetimes").locate_file(CDNOW_FILE)))
    except PackageNotFoundError as e:
        raise RuntimeError("the CDNOW data needs the `lifetimes` package: pip install -e '.[bench]'") from e
    if not path.is_file():
        raise RuntimeError(f"{CDNOW_FILE} not found in the installed lifetimes package ({path})")
    return path


def cdnow_shift_days(ends_near: date | None) -> int:
    """Days added to every CDNOW date: whole weeks, so the last day falls on ``ends_near`` or up to 6 days before."""
    if ends_near is None:
        return 0
    return (ends_near - CDNOW_LAST_DAY).days // 7 * 7


def cdnow_last_day(ends_near: date | None = None) -> date:
    """The last day with an order (after the shift); ``seg --as-of`` the day after sees every order."""
    return CDNOW_LAST_DAY + timedelta(days=cdnow_shift_days(ends_near))


def cdnow_transactions(spark: SparkSession, customers: int | None = None, ends_near: date | None = None) -> DataFrame:
    """customer_id, line (file order), order_ts, amount, items: one row per CDNOW transaction line.

    ``customers`` keeps the first N customer ids (ids ascending), a deterministic subset.
    """
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    pdf = pd.read_csv(
        cdnow_path(),
        sep=r"\s+",
        header=0,
        names=["customer_id", "day", "items", "amount"],
        dtype={"customer_id": str, "day": str, "items": "int32", "amount": str},
    )
    pdf["line"] = range(len(pdf))
    if customers is not None:
        keep = sorted(pdf["customer_id"].unique())[:customers]
        pdf = pdf[pdf["customer_id"].isin(keep)]
    shift = cdnow_shift_days(ends_near)
    df = spark.createDataFrame(pdf)
    # Lines of one customer and day are separate orders: a minute apart from 12:00 UTC, in file order.
    nth_that_day = F.row_number().over(Window.partitionBy("customer_id", "day").orderBy("line"))
    day = F.date_add(F.to_date("day", "yyyyMMdd"), shift)
    return df.select(
        "customer_id",
        "line",
        (F.to_timestamp(day) + F.make_interval(hours=F.lit(12), mins=nth_that_day - 1)).alias("order_ts"),
        F.col("amount").cast("decimal(18,2)").alias("amount"),
        F.col("items").cast("int").alias("items"),
    )


def conform_raw(df: DataFrame, name: str) -> DataFrame:
    """Exactly the raw contract's columns of table ``name``, in order and typed; columns ``df`` lacks are null."""
    from pyspark.sql import functions as F

    from seglib.generate.tables import CONTRACT, conform

    present = set(df.columns)
    filled = df.select(
        *[F.col(c) if c in present else F.lit(None).cast(dtype).alias(c) for c, dtype, _ in CONTRACT[name]]
    )
    return conform(filled, CONTRACT[name])


def cdnow_raw_frames(transactions: DataFrame, purposes: Sequence[str] = CONSENT_PURPOSES) -> dict[str, DataFrame]:
    """The five raw tables (exact contract schema) from ``cdnow_transactions``."""
    from pyspark.sql import functions as F

    first = transactions.groupBy("customer_id").agg(F.min("order_ts").alias("first_ts"))
    orders = transactions.select(
        F.format_string("CDNOW-%s-%05d", "customer_id", "line").alias("order_id"),
        "customer_id",
        "order_ts",
        "amount",
        F.lit("USD").alias("currency"),
        F.lit("completed").alias("status"),
        "items",
    )
    crm = first.select(
        "customer_id",
        F.to_date("first_ts").alias("signup_date"),
        F.col("first_ts").alias("updated_at"),
        F.lit(False).alias("is_deleted"),
    )
    consents = first.select(
        F.col("customer_id").alias("subject_id"),
        F.explode(F.array(*[F.lit(p) for p in purposes])).alias("purpose"),
        F.lit(True).alias("granted"),
        F.col("first_ts").alias("updated_at"),
    )
    events = first.select(
        F.concat(F.lit("CDNOW-login-"), "customer_id").alias("event_id"),
        F.col("first_ts").alias("event_ts"),
        F.concat(F.lit("cdnow-"), "customer_id").alias("anonymous_id"),
        "customer_id",
        F.lit("login").alias("event_type"),
    )
    texts = transactions.sparkSession.createDataFrame([], "text_id string")
    frames = {
        "raw_events": events,
        "raw_crm_customers": crm,
        "raw_orders": orders,
        "raw_consents": consents,
        "raw_texts": texts,
    }
    return {name: conform_raw(df, name) for name, df in frames.items()}


def write_cdnow_raw_tables(
    spark: SparkSession,
    locations: Mapping[str, str],
    customers: int | None = None,
    ends_near: date | None = None,
    purposes: Sequence[str] = CONSENT_PURPOSES,
) -> dict[str, int]:
    """Write CDNOW as the five raw tables at ``locations`` (raw table name -> location); return their row counts."""
    from seglib.delta_io import TableSpec, read_table, write_table
    from seglib.tables import raw_input

    frames = cdnow_raw_frames(cdnow_transactions(spark, customers, ends_near), purposes)
    counts = {}
    for name, df in frames.items():
        spec = TableSpec(location=locations[name], comment=raw_input(name).comment)
        write_table(df, spec, mode="overwrite", overwrite_schema=True)
        counts[name] = read_table(spark, locations[name]).count()
        log.info("CDNOW %s: %d rows at %s", name, counts[name], locations[name])
    return counts


__all__ = [
    "CDNOW_CUSTOMERS",
    "CDNOW_FIRST_DAY",
    "CDNOW_LAST_DAY",
    "cdnow_last_day",
    "cdnow_path",
    "cdnow_raw_frames",
    "cdnow_shift_days",
    "cdnow_transactions",
    "conform_raw",
    "write_cdnow_raw_tables",
]
