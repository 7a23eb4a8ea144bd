"""Sessions, events and orders: exploded from the subject rows, every attribute a seeded hash of its keys."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.generate.calendar import SECONDS_PER_DAY, History, season_factor
from seglib.generate.profiles import (
    CATEGORIES,
    CHANNELS,
    DEVICES,
    FEATURES,
    MIX_TYPES,
    PROMO_CODES,
    by_segment,
    choose_by_segment,
    hour_seconds,
)
from seglib.generate.rand import Rng, pick, pick_from
from seglib.generate.subjects import SESSION_END_MARGIN_S

MAX_EVENTS_PER_SESSION = 100
EVENT_SPACING_S = 45  # events of a session are this far apart (plus up to 40 s jitter), in order
PRODUCT_EVENTS = ("product_view", "add_to_cart", "checkout", "purchase")
CATEGORY_EVENTS = ("page_view", "search", *PRODUCT_EVENTS)
# Anonymous sessions cannot buy, use account features or open tickets: these become browsing.
ANONYMOUS_REPLACEMENTS = {"purchase": "product_view", "feature_use": "page_view", "support_ticket": "page_view"}
ORDER_STATUSES = ("completed", "refunded", "cancelled")
SESSION_KEYS = ("subject_idx", "session_idx")
EVENT_KEYS = ("subject_idx", "session_idx", "k")


def sessions(subject_df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """Explode subjects into sessions, thinned by weekday/holiday seasonality; session 0 is the login/signup one."""
    code = F.col("seg")
    is_link = (F.col("session_idx") == 0) & F.col("link_sec").isNotNull()
    span = F.col("win_end") - F.col("win_start")
    day = F.floor(F.col("win_start") + rng.u("day", *SESSION_KEYS) * span)
    start = day * SECONDS_PER_DAY + hour_seconds(code, rng.normal("hour", *SESSION_KEYS))
    latest = F.lit(history.days * SECONDS_PER_DAY - SESSION_END_MARGIN_S)
    eps = by_segment(code, lambda p: float(p.events_per_session))
    n_events = F.lit(1) + F.floor(-F.log(F.lit(1.0) - rng.u("n_events", *SESSION_KEYS)) * (eps - 1))
    return (
        subject_df.withColumn("session_idx", F.explode(F.sequence(F.lit(0), F.col("n_sessions") - 1)))
        .withColumn("is_link_session", is_link)
        .where(is_link | (rng.u("keep", *SESSION_KEYS) < season_factor(code, history.day(day))))
        .withColumn("start_sec", F.when(is_link, F.col("link_sec")).otherwise(F.least(start, latest)))
        .withColumn(
            "identified",
            F.col("is_customer") & (F.col("link_sec").isNull() | (F.col("start_sec") >= F.col("link_sec"))),
        )
        .withColumn("n_events", F.least(n_events, F.lit(MAX_EVENTS_PER_SESSION)).cast("int"))
        .withColumn("session_id", F.concat(F.lit("s-"), rng.hex_id("session", *SESSION_KEYS)))
        .withColumn("device", choose_by_segment(code, rng.u("device", *SESSION_KEYS), DEVICES, lambda p: p.device_mix))
        .withColumn(
            "session_channel",
            choose_by_segment(code, rng.u("channel", *SESSION_KEYS), CHANNELS, lambda p: p.channel_mix),
        )
    )


def _event_type(rng: Rng) -> Column:
    code = F.col("seg")
    drawn = choose_by_segment(code, rng.u("event_type", *EVENT_KEYS), MIX_TYPES, lambda p: p.event_mix)
    browsing = drawn
    for source, target in ANONYMOUS_REPLACEMENTS.items():
        browsing = F.when(drawn == source, F.lit(target)).otherwise(browsing)
    first = F.col("k") == 0
    return (
        F.when(first & F.col("is_link_session"), F.col("link_kind"))
        .when(first & F.col("identified") & (rng.u("login", *EVENT_KEYS) < 0.3), F.lit("login"))
        .when(F.col("identified"), drawn)
        .otherwise(browsing)
    )


def _category(rng: Rng) -> Column:
    favourite = pick_from(
        rng.u("fav_category", *EVENT_KEYS), by_segment(F.col("seg"), lambda p: p.favourite_categories)
    )
    drawn = F.when(rng.u("use_fav", *EVENT_KEYS) < 0.65, favourite).otherwise(
        pick(rng.u("category", *EVENT_KEYS), CATEGORIES)
    )
    return F.when(F.col("event_type").isin(*CATEGORY_EVENTS), drawn)


def _amount(rng: Rng, salt: str) -> Column:
    """A heavy-tailed positive amount per the segment's spend law, rounded to cents."""
    code = F.col("seg")
    kind = by_segment(code, lambda p: p.spend[0])
    a = by_segment(code, lambda p: float(p.spend[1]))
    b = by_segment(code, lambda p: float(p.spend[2]))
    raw = F.when(kind == "pareto", F.least(rng.pareto(salt, a, b, *EVENT_KEYS), F.lit(50_000.0))).otherwise(
        rng.lognormal(salt, a, b, *EVENT_KEYS)
    )
    return F.greatest(F.round(raw, 2), F.lit(0.5)).cast("decimal(18,2)")


def _properties(rng: Rng) -> Column:
    etype = F.col("event_type")
    promo = etype.isin("search", *PRODUCT_EVENTS) & (
        rng.u("promo", *EVENT_KEYS) < by_segment(F.col("seg"), lambda p: p.promo_prob)
    )
    entries = {
        "page": F.when(
            etype.isin("page_view", "product_view"),
            F.concat(F.lit("/"), F.coalesce(F.col("content_category"), F.lit("home"))),
        ),
        "query": F.when(
            etype == "search",
            pick_from(rng.u("query", *EVENT_KEYS), by_segment(F.col("seg"), lambda p: p.search_terms)),
        ),
        "promo_code": F.when(promo, pick(rng.u("promo_code", *EVENT_KEYS), PROMO_CODES)),
        "utm_campaign": F.when(promo, F.lit("sale")),
        "feature": F.when(etype == "feature_use", pick(rng.u("feature", *EVENT_KEYS), FEATURES)),
        "ticket_priority": F.when(
            etype == "support_ticket", pick(rng.u("priority", *EVENT_KEYS), ("low", "medium", "high"))
        ),
        "items": F.when(etype == "purchase", F.col("items").cast("string")),
    }
    pairs = [c for key, value in entries.items() for c in (F.lit(key), value.cast("string"))]
    return F.map_filter(F.create_map(*pairs), lambda _k, v: v.isNotNull())


def events(session_df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """Explode sessions into ordered events; keeps helper columns (seg, subject_idx, currency_code, items)."""
    offset = F.col("start_sec") + F.col("k") * EVENT_SPACING_S + F.floor(rng.u("gap", *EVENT_KEYS) * 40)
    etype = F.col("event_type")
    return (
        session_df.withColumn("k", F.explode(F.sequence(F.lit(0), F.col("n_events") - 1)))
        .withColumn("event_id", F.concat(rng.hex_id("event_id", *EVENT_KEYS), rng.hex_id("event_id2", *EVENT_KEYS)))
        .withColumn("event_ts", history.ts(offset))
        .withColumn("customer_id", F.when(F.col("identified"), F.col("customer_id")))
        .withColumn("event_type", _event_type(rng))
        .withColumn(
            "channel",
            F.when(etype.isin("email_open", "email_click"), F.lit("email")).otherwise(F.col("session_channel")),
        )
        .withColumn("content_category", _category(rng))
        .withColumn(
            "product_id",
            F.when(
                etype.isin(*PRODUCT_EVENTS),
                F.format_string(
                    "P-%s-%04d",
                    F.upper(F.substring(F.col("content_category"), 1, 3)),
                    F.floor(F.exp(rng.u("product", *EVENT_KEYS) * 6.9)).cast("int"),  # Zipf-like ids 1..~1000
                ),
            ),
        )
        .withColumn("revenue", F.when(etype == "purchase", _amount(rng, "revenue")))
        .withColumn("currency", F.when(etype == "purchase", F.col("currency_code")))
        .withColumn(
            "items",
            F.when(
                etype == "purchase",
                F.greatest(F.lit(1), F.round(rng.lognormal("items", F.lit(0.0), F.lit(0.8), *EVENT_KEYS)).cast("int")),
            ),
        )
        .withColumn("properties", _properties(rng))
    )


def orders(event_df: DataFrame, rng: Rng) -> DataFrame:
    """One order per (clean) purchase event: same customer, time, amount and currency; some refunded or cancelled."""
    status = choose_by_segment(F.col("seg"), rng.u("order_status", "event_id"), ORDER_STATUSES, lambda p: p.status_mix)
    return (
        event_df.where(F.col("event_type") == "purchase")
        .withColumn("order_id", F.concat(F.lit("ORD-"), F.upper(rng.hex_id("order_id", "event_id"))))
        .withColumn("order_ts", F.col("event_ts"))
        .withColumn("amount", F.col("revenue"))
        .withColumn("status", status)
        .withColumn("product_category", F.col("content_category"))
    )
