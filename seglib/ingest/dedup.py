"""De-duplication and latest-state collapse of validated raw rows (all before pseudonymization, on raw keys)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglib.ingest.contract import RAW_COLUMN

_RANK = "_dedup_rank"
BROADCAST_MAX_KEYS = 1_000_000  # repeated keys joined by broadcast (~50 MB of ids); more are joined by shuffle

# The key each raw table is de-duplicated on (one silver row per key).
DEDUP_KEYS: dict[str, list[str]] = {
    "raw_events": ["event_id"],
    "raw_crm_customers": ["customer_id"],
    "raw_orders": ["order_id"],
    "raw_consents": ["subject_id", "purpose"],
    "raw_texts": ["text_id"],
}

# Later lifecycle states win over "completed" when two order rows share a timestamp.
ORDER_STATUS_RANK_SQL = "CASE {col} WHEN 'completed' THEN 0 WHEN 'refunded' THEN 1 WHEN 'cancelled' THEN 2 ELSE -1 END"


def id_key(col: Column) -> Column:
    """An identifier as de-duplication compares it: trimmed, the same normalisation the pseudonyms apply."""
    return F.trim(col.cast("string"))


def keep_first(df: DataFrame, keys: Sequence[str], order: Sequence[Column]) -> DataFrame:
    """One row per key: the first by ``order``; a row hash breaks remaining ties so the pick is deterministic.

    Only rows whose key repeats go through the ranking window: the keys alone are counted (a narrow shuffle), rows
    of a key seen once pass through, and the window sorts the repeated keys' rows only. Ranking every row shuffled
    and sorted whole rows, though most keys (event ids) occur once. The repeated keys are materialised first (a
    local checkpoint): up to ``BROADCAST_MAX_KEYS`` of them are broadcast, so the rows are not shuffled at all.
    """
    key_names = [f"_dedup_key{i}" for i in range(len(keys))]
    keyed = df.withColumns({name: id_key(F.col(k)) for name, k in zip(key_names, keys, strict=True)})
    counts = keyed.groupBy(*key_names).count()
    repeated = (
        counts.filter(F.col("count") > 1)
        .select(*[F.col(n).alias(f"{n}_r") for n in key_names])
        .localCheckpoint(eager=True)
    )
    if repeated.count() <= BROADCAST_MAX_KEYS:
        repeated = F.broadcast(repeated)
    same_key = reduce(Column.__and__, [keyed[n].eqNullSafe(repeated[f"{n}_r"]) for n in key_names])
    once = keyed.join(repeated, same_key, "left_anti")
    payload = [c for c in df.columns if c != RAW_COLUMN]
    tie = F.xxhash64(*[F.col(f"`{c}`").cast("string") for c in payload])
    window = Window.partitionBy(*key_names).orderBy(*order, tie)
    firsts = (
        keyed.join(repeated, same_key, "left_semi")
        .withColumn(_RANK, F.row_number().over(window))
        .filter(F.col(_RANK) == 1)
        .drop(_RANK)
    )
    return once.unionByName(firsts).drop(*key_names)


def dedup_events(df: DataFrame) -> DataFrame:
    """Exact duplicate events (same event_id): keep the earliest by event_ts."""
    return keep_first(df, ["event_id"], [F.col("event_ts").asc()])


def dedup_texts(df: DataFrame) -> DataFrame:
    """Re-delivered texts (same text_id): keep the earliest by created_at."""
    return keep_first(df, ["text_id"], [F.col("created_at").asc()])


def latest_crm(df: DataFrame) -> DataFrame:
    """CRM change log -> current version per customer (latest updated_at; a deletion wins a tie)."""
    return keep_first(df, ["customer_id"], [F.col("updated_at").desc(), F.col("is_deleted").desc_nulls_last()])


def status_rank(col: str = "status") -> Column:
    return F.expr(ORDER_STATUS_RANK_SQL.format(col=f"`{col}`"))


def latest_orders(df: DataFrame) -> DataFrame:
    """One row per order_id: the latest event of its lifecycle (order_ts, then refunded/cancelled over completed)."""
    return keep_first(df, ["order_id"], [F.col("order_ts").desc(), status_rank().desc()])


def with_net_amount(df: DataFrame) -> DataFrame:
    """net_amount: the amount of a completed order, 0 once it is cancelled or refunded (refunds are whole-order)."""
    net = F.when(F.col("status") == "completed", F.col("amount")).otherwise(F.lit(0))
    return df.withColumn("net_amount", net.cast("decimal(18,2)"))
