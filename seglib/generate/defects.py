"""Deliberately invalid rows (a configurable share), chosen by hash so the same rows break on every run.

Nothing in the output marks them; the caller counts each kind from the ``_defect`` column before dropping it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.generate.calendar import SECONDS_PER_DAY, History
from seglib.generate.profiles import BAD_CURRENCIES, UNKNOWN_EVENT_TYPES
from seglib.generate.rand import Rng, lit_array, pick

COMMON_EVENT_DEFECTS = ("null_event_id", "null_event_ts", "null_subject_ids", "duplicate", "future_ts")
PURCHASE_EVENT_DEFECTS = (*COMMON_EVENT_DEFECTS, "negative_revenue", "bad_currency")
OTHER_EVENT_DEFECTS = (*COMMON_EVENT_DEFECTS, "unknown_event_type", "revenue_on_non_purchase")
EVENT_DEFECTS = tuple(dict.fromkeys(PURCHASE_EVENT_DEFECTS + OTHER_EVENT_DEFECTS))
ORDER_DEFECTS = ("null_order_id", "null_customer_id", "negative_amount", "bad_currency")
DEFECT_COL = "_defect"


def _choose(u: Column, share: float, kinds: Sequence[str]) -> Column:
    """A kind when ``u < share`` (spread evenly over ``kinds``), else null."""
    index = F.floor(u / F.lit(share) * len(kinds)).cast("int") + 1
    return F.when(u < F.lit(share), F.element_at(lit_array(kinds), index))


def with_event_defects(df: DataFrame, share: float, history: History, rng: Rng) -> DataFrame:
    """Break ``share`` of events (one defect each) and duplicate some; sets ``_defect`` to the kind or null."""
    if share <= 0:
        return df.withColumn(DEFECT_COL, F.lit(None).cast("string"))
    u = rng.u("defect", "event_id")
    kind = F.when(F.col("event_type") == "purchase", _choose(u, share, PURCHASE_EVENT_DEFECTS)).otherwise(
        _choose(u, share, OTHER_EVENT_DEFECTS)
    )
    d = F.col(DEFECT_COL)
    future_s = (
        history.as_of_epoch
        - history.start_epoch
        + F.floor(F.lit(SECONDS_PER_DAY) * (1 + rng.u("future", "event_id") * 40))
    )
    stray_amount = F.round(F.lit(1.0) + rng.u("stray", "event_id") * 200, 2).cast("decimal(18,2)")
    return (
        df.withColumn(DEFECT_COL, kind)
        .withColumn("event_id", F.when(d.isNull() | (d != "null_event_id"), F.col("event_id")))
        .withColumn("event_ts", F.when(d.isNull() | (d != "null_event_ts"), F.col("event_ts")))
        .withColumn("event_ts", F.when(d == "future_ts", history.ts(future_s)).otherwise(F.col("event_ts")))
        .withColumn("customer_id", F.when(d.isNull() | (d != "null_subject_ids"), F.col("customer_id")))
        .withColumn("anonymous_id", F.when(d.isNull() | (d != "null_subject_ids"), F.col("anonymous_id")))
        .withColumn("revenue", F.when(d == "negative_revenue", -F.col("revenue")).otherwise(F.col("revenue")))
        .withColumn("revenue", F.when(d == "revenue_on_non_purchase", stray_amount).otherwise(F.col("revenue")))
        .withColumn(
            "currency", F.when(d == "revenue_on_non_purchase", F.col("currency_code")).otherwise(F.col("currency"))
        )
        .withColumn(
            "currency",
            F.when(d == "bad_currency", pick(rng.u("bad_currency", "event_id"), BAD_CURRENCIES)).otherwise(
                F.col("currency")
            ),
        )
        .withColumn(
            "event_type",
            F.when(d == "unknown_event_type", pick(rng.u("bad_type", "event_id"), UNKNOWN_EVENT_TYPES)).otherwise(
                F.col("event_type")
            ),
        )
        .withColumn(
            "_copies", F.explode(F.when(d == "duplicate", F.array(F.lit(1), F.lit(2))).otherwise(F.array(F.lit(1))))
        )
        .drop("_copies")
    )


def with_order_defects(df: DataFrame, share: float, rng: Rng) -> DataFrame:
    """Break ``share`` of orders: null ids, negative amounts, malformed currency codes."""
    if share <= 0:
        return df.withColumn(DEFECT_COL, F.lit(None).cast("string"))
    d = F.col(DEFECT_COL)
    ok = d.isNull()
    return (
        df.withColumn(DEFECT_COL, _choose(rng.u("order_defect", "order_id"), share, ORDER_DEFECTS))
        .withColumn("order_id", F.when(ok | (d != "null_order_id"), F.col("order_id")))
        .withColumn("customer_id", F.when(ok | (d != "null_customer_id"), F.col("customer_id")))
        .withColumn("amount", F.when(d == "negative_amount", -F.col("amount")).otherwise(F.col("amount")))
        .withColumn(
            "currency",
            F.when(d == "bad_currency", pick(rng.u("bad_currency", "order_id"), BAD_CURRENCIES)).otherwise(
                F.col("currency")
            ),
        )
    )


def defect_counts(df: DataFrame, table: str, kinds: Sequence[str]) -> dict[str, int]:
    """``{"bad.<table>.<kind>": rows}`` for every kind (0 when absent); duplicates count the extra copies."""
    rows = df.where(F.col(DEFECT_COL).isNotNull()).groupBy(DEFECT_COL).count().collect()  # <= one row per kind
    found = {r[DEFECT_COL]: r["count"] for r in rows}
    if "duplicate" in found:
        found["duplicate"] //= 2
    return {f"bad.{table}.{kind}": int(found.get(kind, 0)) for kind in kinds}
