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


def _key_names(keys: Sequence[str]) -> list[str]:
    return [f"_dedup_key{i}" for i in range(len(keys))]


def repeated_keys(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The keys (compared as :func:`id_key` does) that occur more than once in ``df``, with their row ``count``.

    Materialised (a local checkpoint): ingest computes it once per batch for both the row accounting and the
    de-duplication, and it is small when duplicates are rare.
    """
    key_cols = [id_key(F.col(k)).alias(n) for k, n in zip(keys, _key_names(keys), strict=True)]
    return df.groupBy(*key_cols).count().filter(F.col("count") > 1).localCheckpoint(eager=True)


def keep_first(
    df: DataFrame, keys: Sequence[str], order: Sequence[Column], repeated: DataFrame | None = None
) -> DataFrame:
    """One row per key: the first by ``order``; a row hash breaks remaining ties so the pick is deterministic.

    Only rows whose key repeats go through the ranking window: rows of a key seen once pass through, and the window
    sorts the repeated keys' rows only. Ranking every row shuffled and sorted whole rows, though most keys (event
    ids) occur once. ``repeated``: :func:`repeated_keys` of ``df`` if already computed; up to
    ``BROADCAST_MAX_KEYS`` of them are broadcast, so the rows are not shuffled at all.
    """
    names = _key_names(keys)
    keyed = df.withColumns({n: id_key(F.col(k)) for n, k in zip(names, keys, strict=True)})
    repeated = repeated_keys(df, keys) if repeated is None else repeated
    lookup = repeated.select(*[F.col(n).alias(f"{n}_r") for n in names])
    if repeated.count() <= BROADCAST_MAX_KEYS:
        lookup = F.broadcast(lookup)
    same_key = reduce(Column.__and__, [keyed[n].eqNullSafe(lookup[f"{n}_r"]) for n in names])
    once = keyed.join(lookup, same_key, "left_anti")
    payload = [c for c in df.columns if c != RAW_COLUMN]
    tie = F.xxhash64(*[F.col(f"`{c}`").cast("string") for c in payload])
    window = Window.partitionBy(*names).orderBy(*order, tie)
    firsts = (
        keyed.join(lookup, same_key, "left_semi")
        .withColumn(_RANK, F.row_number().over(window))
        .filter(F.col(_RANK) == 1)
        .drop(_RANK)
    )
    return once.unionByName(firsts).drop(*names)


def dedup_events(df: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """Exact duplicate events (same event_id): keep the earliest by event_ts."""
    return keep_first(df, ["event_id"], [F.col("event_ts").asc()], repeated)


def dedup_texts(df: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """Re-delivered texts (same text_id): keep the earliest by created_at."""
    return keep_first(df, ["text_id"], [F.col("created_at").asc()], repeated)


def latest_crm(df: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """CRM change log -> current version per customer (latest updated_at; a deletion wins a tie)."""
    order = [F.col("updated_at").desc(), F.col("is_deleted").desc_nulls_last()]
    return keep_first(df, ["customer_id"], order, repeated)


def status_rank(col: str = "status") -> Column:
    return F.expr(ORDER_STATUS_RANK_SQL.format(col=f"`{col}`"))


def latest_orders(df: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """One row per order_id: the latest event of its lifecycle (order_ts, then refunded/cancelled over completed)."""
    return keep_first(df, ["order_id"], [F.col("order_ts").desc(), status_rank().desc()], repeated)


def with_net_amount(df: DataFrame) -> DataFrame:
    """net_amount: the amount of a completed order, 0 once it is cancelled or refunded (refunds are whole-order)."""
    net = F.when(F.col("status") == "completed", F.col("amount")).otherwise(F.lit(0))
    return df.withColumn("net_amount", net.cast("decimal(18,2)"))
