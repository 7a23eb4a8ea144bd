"""The generator writes the exact raw contract, reproducibly, with the planted structure and counted defects."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.generator import GeneratorConfig
from seglib.delta_io import read_table
from seglib.generate import build_raw_tables
from seglib.generate.tables import CONTRACT, conform

AS_OF = date(2025, 6, 1)  # the same run date as conftest's fixtures
RAW_NAMES = ("raw_events", "raw_crm_customers", "raw_orders", "raw_consents", "raw_texts")

EXPECTED_SCHEMAS = {
    "raw_events": "struct<event_id:string,event_ts:timestamp,anonymous_id:string,customer_id:string,"
    "session_id:string,event_type:string,channel:string,device:string,country:string,content_category:string,"
    "product_id:string,revenue:decimal(18,2),currency:string,properties:map<string,string>>",
    "raw_crm_customers": "struct<customer_id:string,email:string,phone:string,first_name:string,last_name:string,"
    "birth_date:date,gender:string,country:string,postal_code:string,income_band:string,signup_date:date,"
    "company_name:string,company_size:int,industry:string,job_title:string,plan:string,updated_at:timestamp,"
    "is_deleted:boolean>",
    "raw_orders": "struct<order_id:string,customer_id:string,order_ts:timestamp,amount:decimal(18,2),"
    "currency:string,status:string,items:int,product_category:string>",
    "raw_consents": "struct<subject_id:string,purpose:string,granted:boolean,updated_at:timestamp>",
    "raw_texts": "struct<text_id:string,customer_id:string,anonymous_id:string,source:string,text:string,"
    "created_at:timestamp>",
    "truth": "struct<customer_id:string,anonymous_id:string,planted_segment:string,is_anonymous_only:boolean,"
    "is_deleted:boolean>",
}
KNOWN_EVENT_TYPES = (
    "page_view", "product_view", "search", "add_to_cart", "checkout", "purchase",
    "email_open", "email_click", "feature_use", "support_ticket", "login", "signup",
)  # fmt: skip
SEGMENTS = (
    "high_value_loyal",
    "bargain_hunter",
    "lapsed",
    "new_curious",
    "b2b_power_user",
    "support_heavy",
    "anonymous_visitor",
)


def _clean_events_by_segment(frames) -> DataFrame:
    """Valid events with their subject's planted segment (every subject's events carry its anonymous_id)."""
    truth = frames["truth"].select("anonymous_id", "planted_segment")
    return frames["raw_events"].where(F.col("_defect").isNull()).join(truth, "anonymous_id")


def _share_by_segment(events: DataFrame, condition) -> dict[str, float]:
    rows = events.groupBy("planted_segment").agg(F.avg(condition.cast("double")).alias("share")).collect()
    return {r.planted_segment: r.share for r in rows}


# --- written tables -------------------------------------------------------------------------------------------


def test_written_schemas_equal_the_contract(spark, written):
    _, locations = written
    for name, expected in EXPECTED_SCHEMAS.items():
        assert read_table(spark, locations[name]).schema.simpleString() == expected, name


def test_written_columns_carry_comments(spark, written):
    _, locations = written
    field = read_table(spark, locations["raw_events"]).schema["revenue"]
    assert "purchase" in field.metadata["comment"]


def test_row_counts_are_in_expected_ranges(written, small_cfg):
    counts, _ = written
    subjects = small_cfg.customers + round(small_cfg.customers * small_cfg.anonymous_share)
    expected_events = subjects * small_cfg.events_per_customer
    assert 0.6 * expected_events < counts["raw_events"] < 1.6 * expected_events
    assert small_cfg.customers < counts["raw_crm_customers"] <= 4 * small_cfg.customers
    assert counts["truth"] == subjects
    assert 0 < counts["raw_orders"] < counts["raw_events"] * 0.2
    assert counts["raw_consents"] >= 3 * small_cfg.customers
    assert counts["raw_texts"] > 0


def test_every_defect_kind_is_injected_and_counted(spark, written):
    counts, locations = written
    kinds = {k: v for k, v in counts.items() if k.startswith("bad.")}
    assert len(kinds) == 13 and all(v > 0 for v in kinds.values()), kinds
    # Each kind counted back from the written rows, one aggregation per table (every count is an action).
    unknown = ~F.col("event_type").isin(*KNOWN_EVENT_TYPES)
    event_kinds = {
        "null_event_id": F.col("event_id").isNull(),
        "null_event_ts": F.col("event_ts").isNull(),
        "null_subject_ids": F.col("customer_id").isNull() & F.col("anonymous_id").isNull(),
        "future_ts": F.col("event_ts") >= F.lit(AS_OF).cast("timestamp"),
        "negative_revenue": F.col("revenue") < 0,
        "unknown_event_type": unknown,
        "revenue_on_non_purchase": (F.col("event_type") != "purchase") & F.col("revenue").isNotNull() & ~unknown,
        "bad_currency": F.col("currency").isNotNull() & ~F.col("currency").rlike("^[A-Z]{3}$"),
    }
    events = read_table(spark, locations["raw_events"])
    found = events.agg(*[F.count_if(cond).alias(kind) for kind, cond in event_kinds.items()]).first().asDict()
    assert found == {kind: counts[f"bad.events.{kind}"] for kind in event_kinds}
    dupes = (
        events.where(F.col("event_id").isNotNull())
        .groupBy("event_id")
        .count()
        .where("count > 1")
        .agg(F.count(F.lit(1)).alias("duplicated"), F.count_if(F.col("count") != 2).alias("not_pairs"))
        .first()
    )
    assert (dupes.duplicated, dupes.not_pairs) == (counts["bad.events.duplicate"], 0)
    orders = read_table(spark, locations["raw_orders"])
    order_kinds = {"negative_amount": F.col("amount") < 0, "null_order_id": F.col("order_id").isNull()}
    found = orders.agg(*[F.count_if(cond).alias(kind) for kind, cond in order_kinds.items()]).first().asDict()
    assert found == {kind: counts[f"bad.orders.{kind}"] for kind in order_kinds}


# --- determinism ------------------------------------------------------------------------------------------------


def _comparable(tables: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """The raw tables as written (contract columns, maps as JSON: sortable) and the truth."""
    out = {name: conform(tables[name], CONTRACT[name]) for name in RAW_NAMES}
    out["raw_events"] = out["raw_events"].withColumn("properties", F.to_json("properties"))
    out["truth"] = tables["truth"]
    return out


def _materialised(spark, cfg: GeneratorConfig, shuffle_partitions: int) -> dict[str, DataFrame]:
    """Every generated table and the truth, computed eagerly under ``shuffle_partitions``."""
    previous = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    try:
        built = build_raw_tables(spark, cfg, AS_OF)
        tables = _comparable({**built.tables, "truth": built.truth})
        return {name: df.localCheckpoint(eager=True) for name, df in tables.items()}
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", previous)


def test_same_config_gives_identical_data_whatever_the_partitioning(spark):
    cfg = GeneratorConfig(customers=12, days=5, events_per_customer=10, seed=3, bad_row_share=0.2, partitions=1)
    first = _materialised(spark, cfg, shuffle_partitions=1)
    again = _materialised(spark, cfg.model_copy(update={"partitions": 3}), shuffle_partitions=5)
    assert set(first) == set(RAW_NAMES) | {"truth"}
    for name, df in first.items():
        assert df.count() > 0, name
        assert_df_equality(df, again[name], ignore_row_order=True, ignore_nullable=True)


def test_another_seed_gives_other_data(spark, frames, small_cfg):
    other = build_raw_tables(spark, small_cfg.model_copy(update={"seed": small_cfg.seed + 1}), AS_OF)
    seen = frames["raw_events"].select("event_id", F.lit(True).alias("seen"))
    row = (
        other.tables["raw_events"]
        .select("event_id")
        .join(seen, "event_id", "left")
        .agg(F.count(F.lit(1)).alias("events"), F.count("seen").alias("shared"))
        .first()
    )
    assert row.events > 0 and row.shared == 0, row


# --- planted structure ------------------------------------------------------------------------------------------


def test_every_planted_segment_is_present(frames):
    present = {r.planted_segment for r in frames["truth"].select("planted_segment").distinct().collect()}
    assert present == set(SEGMENTS)
    anonymous = frames["truth"].where("is_anonymous_only")
    assert (
        anonymous.where(F.col("customer_id").isNotNull() | (F.col("planted_segment") != "anonymous_visitor")).count()
        == 0
    )


def test_b2b_users_use_features_most_on_weekday_office_hours(frames):
    events = _clean_events_by_segment(frames)
    office = F.dayofweek("event_ts").between(2, 6) & F.hour("event_ts").between(7, 17)
    rows = (
        events.groupBy("planted_segment")
        .agg(
            F.avg((F.col("event_type") == "feature_use").cast("double")).alias("feature"),
            F.avg(office.cast("double")).alias("office"),
        )
        .collect()
    )
    feature = {r.planted_segment: r.feature for r in rows}
    assert feature["b2b_power_user"] > 0.4
    assert all(v < 0.1 for k, v in feature.items() if k != "b2b_power_user")
    assert {r.planted_segment: r.office for r in rows}["b2b_power_user"] > 0.7
    crm = (
        frames["raw_crm_customers"]
        .join(frames["truth"].where("planted_segment = 'b2b_power_user'").select("customer_id"), "customer_id")
        .agg(
            F.count_if((F.col("company_size") < 500) | F.col("company_size").isNull()).alias("small"),
            F.count_if(F.col("plan") == "enterprise").alias("enterprise"),
            F.count(F.lit(1)).alias("rows"),
        )
        .first()
    )
    assert crm.small == 0
    assert crm.enterprise > 0.7 * crm.rows


def test_bargain_hunters_search_and_use_promos_with_low_order_values(frames):
    events = _clean_events_by_segment(frames)
    browsing = _share_by_segment(events, F.col("event_type").isin("search", "product_view"))
    assert max(browsing, key=browsing.get) in ("bargain_hunter", "anonymous_visitor")
    promo = _share_by_segment(events, F.col("properties").getItem("promo_code").isNotNull())
    assert max(promo, key=promo.get) == "bargain_hunter"
    aov = {
        r.planted_segment: r.aov
        for r in events.where("event_type = 'purchase'")
        .groupBy("planted_segment")
        .agg(F.avg("revenue").alias("aov"))
        .collect()
    }
    assert aov["bargain_hunter"] < aov["high_value_loyal"] / 3
    purchases = _share_by_segment(events, F.col("event_type") == "purchase")
    assert max(purchases, key=purchases.get) == "high_value_loyal"


def test_lapsed_are_silent_in_the_last_third_and_new_customers_sign_up_late(frames, small_cfg):
    events = _clean_events_by_segment(frames)
    first_day = AS_OF - timedelta(days=small_cfg.days)
    last_third = F.col("event_ts") >= F.lit(first_day + timedelta(days=small_cfg.days * 2 / 3)).cast("timestamp")
    lapsed = events.where("planted_segment = 'lapsed'")
    assert lapsed.count() > 0 and lapsed.where(last_third).count() == 0
    new = frames["raw_crm_customers"].join(
        frames["truth"].where("planted_segment = 'new_curious'").select("customer_id"), "customer_id"
    )
    assert new.where(F.col("signup_date") < F.lit(first_day + timedelta(days=small_cfg.days * 0.7))).count() == 0
    signups = events.where("event_type = 'signup'").select("planted_segment").distinct().collect()
    assert [r.planted_segment for r in signups] == ["new_curious"]


def test_support_heavy_open_tickets_and_anonymous_visitors_never_buy(frames):
    events = _clean_events_by_segment(frames)
    tickets = _share_by_segment(events, F.col("event_type") == "support_ticket")
    assert max(tickets, key=tickets.get) == "support_heavy" and tickets["support_heavy"] > 0.2
    anonymous = events.where("planted_segment = 'anonymous_visitor'")
    assert anonymous.where(F.col("customer_id").isNotNull() | (F.col("event_type") == "purchase")).count() == 0


def test_anonymous_browsing_is_stitched_by_a_login_or_signup(frames):
    events = frames["raw_events"].where(F.col("_defect").isNull())
    known = F.col("customer_id").isNotNull()
    per_anon = events.groupBy("anonymous_id").agg(
        F.max(F.when(~known, F.col("event_ts"))).alias("last_anonymous_ts"),
        F.min(F.when(known, F.struct("event_ts", "event_type"))).alias("first_known"),
    )
    stitched = per_anon.where("last_anonymous_ts IS NOT NULL AND first_known IS NOT NULL")
    n_stitched = stitched.count()
    assert n_stitched >= 5
    assert stitched.where("last_anonymous_ts >= first_known.event_ts").count() == 0
    # The identifying event itself may have been broken on purpose (bad_row_share=0.3), so not always present.
    linked_by_login = stitched.where(F.col("first_known.event_type").isin("login", "signup")).count()
    assert linked_by_login >= 0.5 * n_stitched


def test_orders_match_purchase_events(frames):
    orders = frames["raw_orders"].select("customer_id", "order_ts", F.abs("amount").alias("amount"), "_defect")
    purchases = frames["raw_events"].where("event_type = 'purchase' AND _defect IS NULL")
    keys = purchases.select("customer_id", F.col("event_ts").alias("order_ts"), F.col("revenue").alias("amount"))
    # Every valid purchase event has its order (order_ts and amount survive every order defect) ...
    assert keys.join(orders, ["order_ts", "amount"], "left_anti").count() == 0
    # ... and valid orders are valid purchases unless their event was the one broken on purpose (30% here).
    valid_orders = orders.where(F.col("_defect").isNull())
    matched = valid_orders.join(keys, ["customer_id", "order_ts", "amount"], "left_semi").count()
    assert 0.6 * valid_orders.count() <= matched < valid_orders.count()
    statuses = {r.status for r in frames["raw_orders"].select("status").distinct().collect()}
    assert statuses == {"completed", "refunded", "cancelled"}


def test_crm_has_change_history_deletions_and_fake_pii(frames):
    crm = frames["raw_crm_customers"]
    versions = crm.groupBy("customer_id").count()
    assert versions.where("count > 1").count() > 0
    latest = crm.groupBy("customer_id").agg(F.max_by("is_deleted", "updated_at").alias("deleted"))
    assert latest.where("deleted").count() > 0
    assert crm.where(~F.col("email").rlike(r"^[a-z]+\.[a-z]+[0-9]+@example\.com$")).count() == 0
    assert crm.where(~F.col("phone").rlike(r"^\+[0-9]+ [0-9]{3} [0-9]{3} [0-9]{4}$")).count() == 0
    assert crm.select("email").distinct().count() > crm.select("customer_id").distinct().count()  # some changed


def test_consents_change_over_time_and_cover_anonymous_ids(frames):
    consents = frames["raw_consents"]
    flips = consents.groupBy("subject_id", "purpose").agg(F.countDistinct("granted").alias("n")).where("n = 2")
    assert flips.count() > 0
    row = consents.agg(
        F.count_if(F.col("subject_id").startswith("anon-")).alias("anonymous"),
        F.count_if(~F.col("granted")).alias("refused"),
    ).first()
    assert row.anonymous > 0 and row.refused > 0, row


def test_text_words_follow_segments_and_some_hold_pii(frames):
    texts = frames["raw_texts"].join(frames["truth"].select("customer_id", "planted_segment"), "customer_id")

    patterns = {
        "bargain_hunter": r"\b(discount|coupon|sale|deal)\b",
        "b2b_power_user": r"\b(api|integration|dashboard|sso)\b",
        "support_heavy": r"\b(terrible|awful|broken|worst|angry|useless)\b",
        "high_value_loyal": r"\b(discount|coupon|api|integration)\b",
    }
    # Share of each segment's texts matching that segment's pattern, all in one aggregation (segments with no text: 0).
    shares = texts.agg(
        *[
            F.coalesce(
                F.avg(F.when(F.col("planted_segment") == segment, F.col("text").rlike(pattern).cast("double"))),
                F.lit(0.0),
            ).alias(segment)
            for segment, pattern in patterns.items()
        ]
    ).first()
    assert shares.bargain_hunter > 0.5
    assert shares.b2b_power_user > 0.5
    assert shares.support_heavy > 0.5
    assert shares.high_value_loyal == 0
    pii = (
        frames["raw_texts"]
        .agg(
            F.count_if(F.col("text").rlike(r"[a-z.0-9]+@example\.com")).alias("emails"),
            F.count_if(F.col("text").rlike(r"\+[0-9]+ [0-9]{3} [0-9]{3} [0-9]{4}")).alias("phones"),
        )
        .first()
    )
    assert pii.emails > 0 and pii.phones > 0, pii


@pytest.mark.parametrize("name", ["raw_events", "raw_orders"])
def test_raw_tables_carry_no_defect_marker(spark, written, name):
    _, locations = written
    assert "_defect" not in read_table(spark, locations[name]).columns
