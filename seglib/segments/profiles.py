"""Segment profiles: size, share, KPIs over the activity window and the items each segment over-indexes on.

Inputs are the long membership (``subject_id, segment_family, segment_id``: a subject may sit in several families and,
in a non-exclusive family such as tags, in several segments of one family), silver events and silver orders. The
window is the ``window_days`` before the cut-off, [as_of 00:00 UTC - days, as_of 00:00 UTC) (``in_last_days``).

Scale: events (billions of rows) and orders are reduced to small per-subject (or per subject and item) aggregates in
one grouped pass each, and only those are joined to the membership, which has several rows per subject; raw events
are never joined to it. Members without any activity still count in every per-member denominator (``size``).

Definitions chosen here:

* ``conversion_rate``: members with at least one completed order in the window / size.
* ``ctr``: the members' e-mail clicks / their e-mail opens (null without opens; not capped, so it can exceed 1 when
  opens go untracked, e.g. blocked tracking pixels).
* ``bounce_rate``: sessions with exactly one event / sessions, counting only the members' events in the window that
  have a session id (a session straddling the window start counts with its in-window events only). A session is
  per subject: one re-keyed onto two subjects by identity stitching counts once for each. Null without sessions.
* ``aov``: net value of the members' completed orders / their number (null without any); ``revenue_per_subject``:
  that net value / size (0.0 without orders). Refunded and cancelled orders count nowhere.
* Lift population: the subjects of the segment's FAMILY (the membership's distinct subjects of that family), not every
  subject with events: a family may cover only part of the snapshot (identified customers, consenting or scored
  subjects), and lift 1 then means "like the rest of the family", in line with ``share`` (size / family subjects).
* Top lists: an empty array for a segment whose members have no qualifying item (nothing over ``min_events``), NULL
  only when suppressed (segment below the minimum size), so "nothing to show" and "not shown" stay distinguishable.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from seglib.config.segments import SegmentsConfig
from seglib.features._time import in_last_days, safe_div

KEYS = ("segment_family", "segment_id")
KPIS = ("conversion_rate", "ctr", "bounce_rate", "aov", "revenue_per_subject")
TOP_LISTS = {"top_categories": "content_category", "top_products": "product_id"}
ITEM = T.StructType(
    [
        T.StructField("name", T.StringType()),
        T.StructField("lift", T.DoubleType()),
        T.StructField("share", T.DoubleType()),
    ]
)
ITEMS = T.ArrayType(ITEM)
PROFILE_COLUMNS = (*KEYS, "size", "share", "meets_min_size", *KPIS, *TOP_LISTS)
DECIMALS = 4


def rounded(value: Column) -> Column:
    """Shares and lifts to 4 decimals: more digits are noise for a profile, and ranking on the rounded lift makes
    the name tie-break apply to lifts that differ only by floating-point error."""
    return F.round(value.cast("double"), DECIMALS)


def suppressed_unless(allowed: Column, value: Column) -> Column:
    """``value`` where ``allowed`` is true, else NULL (k-anonymity: a tiny segment's profile can identify people)."""
    return F.when(allowed, value)


def meets_floor(size: Column, family_size: Column, min_size: int, min_share: float) -> Column:
    """The k-anonymity floors, on the unrounded share (a share that only rounds up to the floor must not pass)."""
    return (size >= F.lit(min_size)) & (size / family_size >= F.lit(min_share))


def _members(membership: DataFrame) -> DataFrame:
    """One row per (family, segment, subject): a duplicated membership row would count a subject's activity twice."""
    return membership.select(*KEYS, "subject_id").dropDuplicates()


def _windowed(df: DataFrame, ts: str, as_of: date, window_days: int) -> DataFrame:
    return df.where(in_last_days(F.col(ts), as_of, window_days))


def _count_if(cond: Column) -> Column:
    return F.count(F.when(cond, True))


def subject_event_kpis(events: DataFrame, as_of: date, window_days: int) -> DataFrame:
    """Per subject: e-mail opens and clicks, sessions and single-event sessions in the window.

    One grouped pass over the events by (subject, session) (a session's length needs its own count; events without
    a session id form one null group per subject, kept for the e-mail counts), then a small roll-up per subject.
    """
    event_type = F.col("event_type")
    per_session = (
        _windowed(events, "event_ts", as_of, window_days)
        .groupBy("subject_id", "session_id")
        .agg(
            F.count(F.lit(1)).alias("_events"),
            _count_if(event_type == "email_open").alias("_opens"),
            _count_if(event_type == "email_click").alias("_clicks"),
        )
    )
    has_session = F.col("session_id").isNotNull()
    return per_session.groupBy("subject_id").agg(
        F.sum("_opens").alias("email_opens"),
        F.sum("_clicks").alias("email_clicks"),
        _count_if(has_session).alias("sessions"),
        _count_if(has_session & (F.col("_events") == 1)).alias("bounced_sessions"),
    )


def subject_order_kpis(orders: DataFrame, as_of: date, window_days: int) -> DataFrame:
    """Per subject: completed orders in the window and their net value (refunded/cancelled orders are left out)."""
    completed = _windowed(orders, "order_ts", as_of, window_days).where(F.col("status") == "completed")
    return completed.groupBy("subject_id").agg(
        F.count(F.lit(1)).alias("completed_orders"),
        F.sum("net_amount").alias("net_revenue"),
    )


def segment_kpis(
    membership: DataFrame, events: DataFrame, orders: DataFrame, as_of: date, window_days: int
) -> DataFrame:
    """Per (segment_family, segment_id): ``size`` (distinct subjects) and the five KPIs of the module docstring.

    The per-subject aggregates are joined to the members (left: inactive members stay in ``size``) and summed per
    segment, so a subject in several segments counts in each.
    """
    per_subject = (
        _members(membership)
        .join(subject_event_kpis(events, as_of, window_days), "subject_id", "left")
        .join(subject_order_kpis(orders, as_of, window_days), "subject_id", "left")
    )
    size = F.count(F.lit(1))
    net = F.sum("net_revenue")
    return per_subject.groupBy(*KEYS).agg(
        size.alias("size"),
        safe_div(_count_if(F.col("completed_orders") > 0), size).alias("conversion_rate"),
        safe_div(F.sum("email_clicks"), F.sum("email_opens")).alias("ctr"),
        safe_div(F.sum("bounced_sessions"), F.sum("sessions")).alias("bounce_rate"),
        safe_div(net, F.sum("completed_orders")).alias("aov"),
        safe_div(F.coalesce(net, F.lit(0)), size).alias("revenue_per_subject"),
    )


def ranked_items(name: Column, lift: Column, share: Column, rank: Column) -> Column:
    """Items of one segment as an array<struct<name, lift, share>> in rank order.

    ``collect_list`` order follows the shuffle, so the array is sorted explicitly on the rank carried alongside.
    """
    collected = F.array_sort(F.collect_list(F.struct(rank.alias("rank"), name.alias("name"), lift, share)))
    return F.transform(collected, lambda s: F.struct(s["name"], s["lift"], s["share"]))


def top_items_by_lift(
    membership: DataFrame,
    events: DataFrame,
    as_of: date,
    window_days: int,
    item_col: str,
    top_n: int,
    min_events: int,
) -> DataFrame:
    """Per (segment_family, segment_id): ``items``, the ``top_n`` values of ``item_col`` by lift (ties by name).

    share = the segment's events on the item / the segment's events with a non-null ``item_col`` (members' events in
    the window); lift = share / the same share over the family's subjects. Items need ``min_events`` of the segment's
    events. Every segment of the membership gets a row; the array is empty when no item qualifies.

    Events are counted per (subject, item) in one grouped pass; those counts are joined once to each subject's
    segments per family (a subject in two segments of a family counts in both segments but once in the family).
    """
    item = F.col(item_col).cast("string")
    counts = (
        _windowed(events, "event_ts", as_of, window_days)
        .where(item.isNotNull())
        .groupBy("subject_id", item.alias("name"))
        .agg(F.count(F.lit(1)).alias("_n"))
    )
    per_family = membership.groupBy("segment_family", "subject_id").agg(F.collect_set("segment_id").alias("_segs"))
    joined = counts.join(per_family, "subject_id")

    family_total = Window.partitionBy("segment_family")
    population = (
        joined.groupBy("segment_family", "name")
        .agg(F.sum("_n").alias("_pop_n"))
        .withColumn("_pop_share", F.col("_pop_n") / F.sum("_pop_n").over(family_total))
        .drop("_pop_n")
    )
    segment_total = Window.partitionBy(*KEYS)
    by_rank = Window.partitionBy(*KEYS).orderBy(F.col("lift").desc(), F.col("name"))
    scored = (
        joined.select("segment_family", F.explode("_segs").alias("segment_id"), "name", "_n")
        .groupBy(*KEYS, "name")
        .agg(F.sum("_n").alias("_n"))
        .withColumn("_share", F.col("_n") / F.sum("_n").over(segment_total))
        .where(F.col("_n") >= min_events)
        .join(population, ["segment_family", "name"])
        .select(
            *KEYS,
            "name",
            rounded(F.col("_share") / F.col("_pop_share")).alias("lift"),
            rounded(F.col("_share")).alias("share"),
        )
        # row_number <= n right after the window lets Spark cut each partition to n rows before the shuffle.
        .withColumn("_rank", F.row_number().over(by_rank))
        .where(F.col("_rank") <= top_n)
        .groupBy(*KEYS)
        .agg(ranked_items(F.col("name"), F.col("lift"), F.col("share"), F.col("_rank")).alias("items"))
    )
    segments = membership.select(*KEYS).distinct()
    return segments.join(scored, list(KEYS), "left").select(
        *KEYS, F.coalesce(F.col("items"), F.array().cast(ITEMS)).alias("items")
    )


def segment_profiles(
    membership: DataFrame, events: DataFrame, orders: DataFrame, as_of: date, cfg: SegmentsConfig
) -> DataFrame:
    """The computed columns of segments/segment_profiles, one row per (segment_family, segment_id).

    share = size / distinct subjects of the family (4 decimals); meets_min_size applies ``min_segment_size`` and
    ``min_segment_share``; below it the KPIs and top lists are NULL. The caller adds names, lineage, snapshot_date.
    """
    family_sizes = membership.groupBy("segment_family").agg(F.count_distinct("subject_id").alias("_family_size"))
    kpis = segment_kpis(membership, events, orders, as_of, cfg.kpi_window_days)
    profiles = kpis.join(family_sizes, "segment_family")
    for column, item_col in TOP_LISTS.items():
        top = top_items_by_lift(
            membership, events, as_of, cfg.kpi_window_days, item_col, cfg.top_items, cfg.min_item_events
        )
        profiles = profiles.join(top.withColumnRenamed("items", column), list(KEYS), "left")
    meets = meets_floor(F.col("size"), F.col("_family_size"), cfg.min_segment_size, cfg.min_segment_share)
    return profiles.select(
        *KEYS,
        F.col("size").cast("long").alias("size"),
        rounded(F.col("size") / F.col("_family_size")).alias("share"),
        meets.alias("meets_min_size"),
        *[suppressed_unless(meets, F.col(c).cast("double")).alias(c) for c in KPIS],
        *[suppressed_unless(meets, F.col(c)).cast(ITEMS).alias(c) for c in TOP_LISTS],
    )
