"""Engagement, behaviour and context features: ONE grouped pass over silver events with conditional aggregation.

Each group contributes aggregate expressions (``*_aggregations``) and a post-aggregation step (``derive_*``);
``event_features`` runs the enabled groups' expressions in a single ``groupBy(subject_id).agg(...)``.
Internal helper columns start with ``_`` and are dropped after derivation.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from seglib.config.features import FeaturesConfig
from seglib.features._time import (
    SECONDS_PER_DAY,
    before_cutoff,
    clipped,
    column_suffix,
    cutoff_seconds,
    in_last_days,
    safe_div,
    utc_epoch_day,
    utc_hour,
    utc_weekday,
)

ACTIVITY_DAYS = 90
TREND_DAYS = 30
GROUPS = ("engagement", "behaviour", "context")
DAYPARTS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}
CART_TYPES = ("add_to_cart", "checkout")
ACTIVATION_TYPES = ("feature_use", "purchase")
COUNT_DEFAULTS: dict[str, Any] = {
    "events_90d": 0,
    "sessions_90d": 0,
    "page_views_90d": 0,
    "email_opens_90d": 0,
    "email_clicks_90d": 0,
    "email_open_rate_90d": 0.0,
    "engagement_trend": 0.0,
    "product_views_90d": 0,
    "searches_90d": 0,
    "support_tickets_90d": 0,
    "feature_uses_90d": 0,
    "feature_uses_per_week_90d": 0.0,
}


def affinity_columns(cfg: FeaturesConfig) -> list[str]:
    """The affinity_<category> share columns (0 for a subject without events, like the counts)."""
    return [f"affinity_{column_suffix(cat)}" for cat in cfg.engagement.categories] if cfg.engagement.enabled else []


def _type_is(*types: str) -> Column:
    return F.col("event_type").isin(*types)


def _count(cond: Column) -> Column:
    """sum(when(cond, 1)) as a non-null long: the conditional-aggregation building block."""
    return F.sum(F.when(cond, 1).otherwise(0)).cast("long")


def _recent(as_of: date) -> Column:
    return in_last_days(F.col("event_ts"), as_of, ACTIVITY_DAYS)


def prepare_events(events: DataFrame, cfg: FeaturesConfig, as_of: date) -> DataFrame:
    """Keep known subjects' events strictly before the cut-off and within the lookback; add look-ahead columns."""
    ts = F.col("event_ts")
    kept = events.where(
        before_cutoff(ts, as_of) & in_last_days(ts, as_of, cfg.lookback_days) & F.col("subject_id").isNotNull()
    )
    return kept.transform(with_next_event_ts) if cfg.behaviour.enabled else kept


def with_next_event_ts(events: DataFrame) -> DataFrame:
    """Next purchase / activation instant at or after each event of the same subject (one window, one sort)."""
    following = (
        Window.partitionBy("subject_id").orderBy("event_ts").rangeBetween(Window.currentRow, Window.unboundedFollowing)
    )
    return events.withColumn(
        "_next_purchase_ts", F.min(F.when(_type_is("purchase"), F.col("event_ts"))).over(following)
    ).withColumn("_next_activation_ts", F.min(F.when(_type_is(*ACTIVATION_TYPES), F.col("event_ts"))).over(following))


def base_aggregations(as_of: date) -> list[Column]:
    """Activity counts every group relies on (events, sessions, first/last activity)."""
    recent = _recent(as_of)
    ts = F.col("event_ts")
    return [
        _count(recent).alias("events_90d"),
        # size(collect_set) rather than count(DISTINCT): a distinct aggregate makes Spark expand every event into
        # one row per distinct group, doubling the rows the whole aggregation processes.
        F.size(F.collect_set(F.when(recent, F.col("session_id")))).cast("long").alias("sessions_90d"),
        F.min(F.when(recent, ts)).alias("_first_ts_90d"),
        F.max(F.when(recent, ts)).alias("_last_ts_90d"),
        F.min(utc_epoch_day(ts)).alias("_first_event_day"),
    ]


def engagement_aggregations(cfg: FeaturesConfig, as_of: date) -> list[Column]:
    recent = _recent(as_of)
    ts = F.col("event_ts")
    aggs = [
        _count(recent & _type_is("page_view")).alias("page_views_90d"),
        _count(recent & _type_is("email_open")).alias("email_opens_90d"),
        _count(recent & _type_is("email_click")).alias("email_clicks_90d"),
        _count(in_last_days(ts, as_of, TREND_DAYS)).alias("_events_last_30d"),
        _count(in_last_days(ts, as_of, TREND_DAYS, skip_days=TREND_DAYS)).alias("_events_prev_30d"),
        _count(recent & F.col("content_category").isNotNull()).alias("_categorised_90d"),
    ]
    for cat in cfg.engagement.categories:
        aggs.append(_count(recent & (F.col("content_category") == cat)).alias(f"_cat_{column_suffix(cat)}"))
    return aggs


def derive_engagement(df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Rates, affinity shares and trend from the engagement counts."""
    span_days = (F.unix_seconds(F.col("_last_ts_90d")) - F.unix_seconds(F.col("_first_ts_90d"))) / SECONDS_PER_DAY
    out = (
        df.withColumn(
            "avg_days_between_sessions_90d",
            F.when(F.col("sessions_90d") > 1, span_days / (F.col("sessions_90d") - 1)),
        )
        .withColumn("email_open_rate_90d", F.col("email_opens_90d") / F.lit(ACTIVITY_DAYS / 7))
        .withColumn(
            "email_click_rate_90d",
            clipped(safe_div(F.col("email_clicks_90d"), F.col("email_opens_90d")), upper=1.0),
        )
        .withColumn(
            "engagement_trend",
            F.coalesce(
                safe_div(
                    F.col("_events_last_30d") - F.col("_events_prev_30d"),
                    F.col("_events_last_30d") + F.col("_events_prev_30d"),
                ),
                F.lit(0.0),
            ),
        )
    )
    for cat in cfg.engagement.categories:
        s = column_suffix(cat)
        out = out.withColumn(
            f"affinity_{s}", F.coalesce(safe_div(F.col(f"_cat_{s}"), F.col("_categorised_90d")), F.lit(0.0))
        )
    return out


def behaviour_aggregations(cfg: FeaturesConfig, as_of: date) -> list[Column]:
    """Cart outcomes only count once their look-ahead window has closed before the cut-off (no leakage)."""
    b = cfg.behaviour
    window_s = b.cart_window_hours * 3600
    ts_s = F.unix_seconds(F.col("event_ts"))
    eligible_cart = _recent(as_of) & _type_is(*CART_TYPES) & (ts_s < F.lit(cutoff_seconds(as_of) - window_s))
    purchased = F.coalesce(F.unix_seconds(F.col("_next_purchase_ts")) - ts_s <= window_s, F.lit(False))
    onboard_s = b.onboarding_window_days * SECONDS_PER_DAY
    activated = F.coalesce(F.unix_seconds(F.col("_next_activation_ts")) - ts_s <= onboard_s, F.lit(False))
    recent = _recent(as_of)
    return [
        _count(eligible_cart).alias("_carts_eligible"),
        _count(eligible_cart & ~purchased).alias("_carts_abandoned"),
        _count(recent & _type_is("product_view")).alias("product_views_90d"),
        _count(recent & _type_is("search")).alias("searches_90d"),
        _count(recent & _type_is("support_ticket")).alias("support_tickets_90d"),
        _count(recent & _type_is("feature_use")).alias("feature_uses_90d"),
        F.max(F.when(_type_is("signup"), activated.cast("int"))).alias("onboarding_completed"),
    ]


def derive_behaviour(df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Rates per session / per week from the behaviour counts."""
    return (
        df.withColumn("cart_abandonment_rate_90d", safe_div(F.col("_carts_abandoned"), F.col("_carts_eligible")))
        .withColumn("browse_depth_90d", safe_div(F.col("product_views_90d"), F.col("sessions_90d")))
        .withColumn("searches_per_session_90d", safe_div(F.col("searches_90d"), F.col("sessions_90d")))
        .withColumn("feature_uses_per_week_90d", F.col("feature_uses_90d") / F.lit(ACTIVITY_DAYS / 7))
    )


def most_frequent(col: Column) -> Column:
    """Aggregate: the most frequent non-null value, ties to the smallest (so reruns agree).

    Spark 4 has this built in (``mode(col, deterministic=True)``); Spark 3.5's ``mode`` breaks ties arbitrarily, so
    there the group's values are sorted and the longest run wins (strictly longer only, so the smallest of tied
    values stays).
    """
    if "deterministic" in inspect.signature(F.mode).parameters:
        return F.mode(col, deterministic=True)
    start = F.struct(
        F.lit(None).cast("string").alias("value"),
        F.lit(0).alias("run"),
        F.lit(None).cast("string").alias("best"),
        F.lit(0).alias("best_run"),
    )

    def step(acc: Column, x: Column) -> Column:
        run = F.when(x == acc["value"], acc["run"] + 1).otherwise(F.lit(1))
        longer = run > acc["best_run"]
        return F.struct(
            x.alias("value"),
            run.alias("run"),
            F.when(longer, x).otherwise(acc["best"]).alias("best"),
            F.greatest(run, acc["best_run"]).alias("best_run"),
        )

    return F.aggregate(F.array_sort(F.collect_list(col.cast("string"))), start, step, lambda acc: acc["best"])


def context_aggregations(cfg: FeaturesConfig, as_of: date) -> list[Column]:
    recent = _recent(as_of)
    hour = utc_hour(F.col("event_ts"))
    aggs = []
    for d in cfg.context.devices:
        aggs.append(_count(recent & (F.col("device") == d)).alias(f"_device_{column_suffix(d)}"))
    for c in cfg.context.channels:
        aggs.append(_count(recent & (F.col("channel") == c)).alias(f"_channel_{column_suffix(c)}"))
    for name, (lo, hi) in DAYPARTS.items():
        aggs.append(_count(recent & (hour >= lo) & (hour < hi)).alias(f"_daypart_{name}"))
    aggs.append(_count(recent & (utc_weekday(F.col("event_ts")) < 5)).alias("_weekday"))
    aggs.append(most_frequent(F.col("country")).alias("_event_country"))
    return aggs


def derive_context(df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Shares of the subject's 90-day events by device, channel, UTC daypart and weekday; null without events."""
    shares = {f"device_share_{column_suffix(d)}": f"_device_{column_suffix(d)}" for d in cfg.context.devices}
    shares |= {f"channel_share_{column_suffix(c)}": f"_channel_{column_suffix(c)}" for c in cfg.context.channels}
    shares |= {f"daypart_share_{n}": f"_daypart_{n}" for n in DAYPARTS}
    shares["weekday_share"] = "_weekday"
    return df.withColumns({out: safe_div(F.col(src), F.col("events_90d")) for out, src in shares.items()})


_AGGS = {"engagement": engagement_aggregations, "behaviour": behaviour_aggregations, "context": context_aggregations}
_DERIVE = {"engagement": derive_engagement, "behaviour": derive_behaviour, "context": derive_context}


def enabled_groups(cfg: FeaturesConfig) -> list[str]:
    return [g for g in GROUPS if getattr(cfg, g).enabled]


def aggregate_events(
    prepared: DataFrame, cfg: FeaturesConfig, as_of: date, groups: Sequence[str] | None = None
) -> DataFrame:
    """One groupBy over prepared events with every enabled group's conditional aggregates, then derivations.

    Keeps ``_first_event_day`` and ``_event_country`` for the final assembly (tenure, country fallback).
    """
    chosen = list(enabled_groups(cfg) if groups is None else groups)
    aggs = base_aggregations(as_of)
    for g in chosen:
        aggs += _AGGS[g](cfg, as_of)
    if "context" not in chosen:
        aggs.append(most_frequent(F.col("country")).alias("_event_country"))
    out = prepared.groupBy("subject_id").agg(*aggs)
    for g in chosen:
        out = _DERIVE[g](out, cfg)
    keep = {"_first_event_day", "_event_country"}
    return out.drop(*[c for c in out.columns if c.startswith("_") and c not in keep])


def event_features(
    events: DataFrame, cfg: FeaturesConfig, as_of: date, groups: Sequence[str] | None = None
) -> DataFrame:
    """Silver events -> one row per subject with the chosen groups' features (internal columns dropped)."""
    out = aggregate_events(prepare_events(events, cfg, as_of), cfg, as_of, groups)
    return out.drop("_first_event_day", "_event_country")
