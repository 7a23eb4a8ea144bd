"""Segment profiles on a hand-checked snapshot: as_of 2024-03-31, a 7-day window [03-24 00:00, 03-31 00:00) UTC.

Families: ``cluster`` (exclusive) S001 {a, b, c}, S002 {d, e}, S003 {f, g} (no activity at all); ``tags``
(non-exclusive) deal_seeker {a, d}, emailer {a, b} (a is in both), vip {c}. Family sizes: cluster 7, tags 4.

In the window, content-category events: a shoes x3, b books x3, c shoes x1, d toys x4 (11 in both families);
products: a p1 x2, b p2 x1, d p3 x1 (4).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from seglib.config.segments import SegmentsConfig
from seglib.segments.profiles import (
    PROFILE_COLUMNS,
    meets_floor,
    segment_kpis,
    segment_profiles,
    subject_event_kpis,
    subject_order_kpis,
    suppressed_unless,
    top_items_by_lift,
)
from seglib.tables import spark_type, table

AS_OF = date(2024, 3, 31)
DAYS = 7
PRECISION = 1e-9
EVENTS_SCHEMA = (
    "subject_id string, session_id string, event_ts timestamp, event_type string, content_category string, "
    "product_id string"
)
ORDERS_SCHEMA = "subject_id string, order_ts timestamp, status string, net_amount decimal(18,2)"
KPI_SCHEMA = (
    "segment_family string, segment_id string, size bigint, conversion_rate double, ctr double, bounce_rate double, "
    "aov double, revenue_per_subject double"
)
ITEMS = "array<struct<name:string,lift:double,share:double>>"


def ts(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """An instant in March 2024, UTC (a naive datetime would be read in the test process's local time zone)."""
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


START, JUST_BEFORE_START = ts(24, 0), ts(23, 23, 59, 59)  # first instant of the window / last one before it
LAST, CUTOFF = ts(30, 23, 59, 59), ts(31, 0)  # last instant of the window / the cut-off (excluded)


@pytest.fixture(scope="module")
def membership(spark):
    rows = [("a", "cluster", "S001"), ("b", "cluster", "S001"), ("c", "cluster", "S001")]
    rows += [("d", "cluster", "S002"), ("e", "cluster", "S002"), ("f", "cluster", "S003"), ("g", "cluster", "S003")]
    rows += [("a", "tags", "deal_seeker"), ("d", "tags", "deal_seeker"), ("a", "tags", "emailer")]
    rows += [("b", "tags", "emailer"), ("c", "tags", "vip")]
    rows += [("a", "tags", "emailer")]  # a duplicated row must not count a's activity twice
    return spark.createDataFrame(rows, "subject_id string, segment_family string, segment_id string")


@pytest.fixture(scope="module")
def events(spark):
    rows = [
        ("a", "s1", START, "page_view", "shoes", None),
        ("a", "s1", ts(25, 10), "product_view", "shoes", "p1"),
        ("a", "s1", ts(25, 10, 5), "add_to_cart", "shoes", "p1"),
        ("a", None, ts(26, 8), "email_open", None, None),
        ("a", None, ts(26, 8, 1), "email_click", None, None),
        ("a", None, ts(27, 8), "email_open", None, None),
        ("a", "s0", JUST_BEFORE_START, "email_open", "shoes", "p9"),  # outside
        ("a", "s9", CUTOFF, "email_click", "toys", "p9"),  # outside
        ("b", "s2", LAST, "page_view", "books", None),  # a one-event session: a bounce
        ("b", "s3", ts(28, 12), "page_view", "books", None),
        ("b", "s3", ts(28, 12, 1), "product_view", "books", "p2"),
        ("b", None, ts(28, 9), "email_open", None, None),
        ("c", "s4", ts(27, 10), "page_view", "shoes", None),  # bounce
        ("c", "s8", ts(20, 10), "page_view", "toys", None),  # outside
        ("d", "s5", ts(29, 10), "page_view", "toys", None),
        ("d", "s5", ts(29, 10, 1), "page_view", "toys", None),
        ("d", "s5", ts(29, 10, 2), "page_view", "toys", None),
        ("d", "s5", ts(29, 10, 3), "product_view", "toys", "p3"),
        ("d", None, ts(29, 11), "email_click", None, None),
    ]
    return spark.createDataFrame(rows, EVENTS_SCHEMA)


@pytest.fixture(scope="module")
def orders(spark):
    rows = [
        ("a", ts(25), "completed", Decimal("100.00")),
        ("a", ts(28), "completed", Decimal("50.00")),
        ("b", ts(26), "refunded", Decimal("0.00")),  # b has no conversion
        ("c", START, "completed", Decimal("30.00")),
        ("c", CUTOFF, "completed", Decimal("999.00")),  # outside
        ("d", JUST_BEFORE_START, "completed", Decimal("999.00")),  # outside
        ("d", ts(27), "cancelled", Decimal("0.00")),
    ]
    return spark.createDataFrame(rows, ORDERS_SCHEMA)


def test_per_subject_aggregates_keep_the_window_edges(spark, events, orders):
    """In: 03-24 00:00:00 and 03-30 23:59:59; out: 03-23 23:59:59 and 03-31 00:00:00 (the cut-off)."""
    expected_events = spark.createDataFrame(
        [("a", 2, 1, 1, 0), ("b", 1, 0, 2, 1), ("c", 0, 0, 1, 1), ("d", 0, 1, 1, 0)],
        "subject_id string, email_opens bigint, email_clicks bigint, sessions bigint, bounced_sessions bigint",
    )
    assert_df_equality(
        subject_event_kpis(events, AS_OF, DAYS), expected_events, ignore_row_order=True, ignore_nullable=True
    )
    expected_orders = spark.createDataFrame(
        [("a", 2, Decimal("150.00")), ("c", 1, Decimal("30.00"))],
        "subject_id string, completed_orders bigint, net_revenue decimal(28,2)",
    )
    assert_df_equality(
        subject_order_kpis(orders, AS_OF, DAYS), expected_orders, ignore_row_order=True, ignore_nullable=True
    )


def test_segment_kpis_count_inactive_members_and_every_segment_of_a_subject(spark, membership, events, orders):
    expected = spark.createDataFrame(
        [
            # 2 of 3 convert (b's order was refunded); 1 click / 3 opens; sessions s1, s2, s3, s4 of which s2 and s4
            # bounce; orders 100 + 50 + 30 over 3 orders and 3 members.
            ("cluster", "S001", 3, 2 / 3, 1 / 3, 0.5, 60.0, 60.0),
            # e is inactive but counts in size; d's click without any open gives no ctr.
            ("cluster", "S002", 2, 0.0, None, 0.0, None, 0.0),
            ("cluster", "S003", 2, 0.0, None, None, None, 0.0),
            # a counts in both of its tags.
            ("tags", "deal_seeker", 2, 0.5, 1.0, 0.0, 75.0, 75.0),
            ("tags", "emailer", 2, 0.5, 1 / 3, 1 / 3, 75.0, 75.0),
            ("tags", "vip", 1, 1.0, None, 1.0, 30.0, 30.0),
        ],
        KPI_SCHEMA,
    )
    actual = segment_kpis(membership, events, orders, AS_OF, DAYS)
    assert_approx_df_equality(actual, expected, PRECISION, ignore_row_order=True, ignore_nullable=True)


def test_top_items_by_lift_cut_ties_and_floor(spark, membership, events):
    """Population of both families: shoes 4, books 3, toys 4 of 11 events. Multi-item order: the profiles test."""
    top = top_items_by_lift(membership, events, AS_OF, DAYS, "content_category", top_n=1, min_events=3)
    expected = spark.createDataFrame(
        [
            # shoes 4 and books 3 of 7: both lift 11/7, books first by name
            ("cluster", "S001", [("books", 1.5714, 0.4286)]),
            ("cluster", "S002", [("toys", 2.75, 1.0)]),
            ("cluster", "S003", []),  # no events at all
            ("tags", "deal_seeker", [("toys", 1.5714, 0.5714)]),  # over shoes at 33/28 = 1.1786
            ("tags", "emailer", [("books", 1.8333, 0.5)]),  # over shoes at 11/8
            ("tags", "vip", []),  # c's single shoes event is under the floor
        ],
        f"segment_family string, segment_id string, items {ITEMS}",
    )
    assert_df_equality(top, expected, ignore_row_order=True, ignore_nullable=True)


def test_segment_profiles_suppress_below_min_size(spark, membership, events, orders):
    cfg = SegmentsConfig(min_segment_size=2, kpi_window_days=DAYS, top_items=2, min_item_events=2)
    p1 = [("p1", 1.3333, 0.6667)]  # 2 of the segment's 3 product events; population 2 of 4
    expected = spark.createDataFrame(
        [
            (
                *("cluster", "S001", 3, 0.4286, True, 2 / 3, 1 / 3, 0.5, 60.0, 60.0),
                [("books", 1.5714, 0.4286), ("shoes", 1.5714, 0.5714)],
                p1,  # p2 has 1 event: under the floor
            ),
            ("cluster", "S002", 2, 0.2857, True, 0.0, None, 0.0, None, 0.0, [("toys", 2.75, 1.0)], []),
            ("cluster", "S003", 2, 0.2857, True, 0.0, None, None, None, 0.0, [], []),
            (
                *("tags", "deal_seeker", 2, 0.5, True, 0.5, 1.0, 0.0, 75.0, 75.0),
                [("toys", 1.5714, 0.5714), ("shoes", 1.1786, 0.4286)],
                p1,
            ),
            (
                *("tags", "emailer", 2, 0.5, True, 0.5, 1 / 3, 1 / 3, 75.0, 75.0),
                [("books", 1.8333, 0.5), ("shoes", 1.375, 0.5)],
                p1,
            ),
            ("tags", "vip", 1, 0.25, False, None, None, None, None, None, None, None),  # suppressed
        ],
        "segment_family string, segment_id string, size bigint, share double, meets_min_size boolean, "
        "conversion_rate double, ctr double, bounce_rate double, aov double, revenue_per_subject double, "
        f"top_categories {ITEMS}, top_products {ITEMS}",
    )
    actual = segment_profiles(membership, events, orders, AS_OF, cfg)
    assert tuple(actual.columns) == PROFILE_COLUMNS
    declared = {c.name: spark_type(c.type).simpleString() for c in table("segments", "segment_profiles").columns}
    assert {f.name: f.dataType.simpleString() for f in actual.schema} == {c: declared[c] for c in PROFILE_COLUMNS}
    assert_approx_df_equality(actual, expected, PRECISION, ignore_row_order=True, ignore_nullable=True)


def test_min_size_and_min_share_floors_both_apply(spark):
    """The floors on their own (segment_profiles above checks them end to end with the size floor)."""
    sizes = spark.createDataFrame(
        [("S001", 3, 7), ("S002", 2, 7), ("vip", 1, 4), ("edge", 3, 10), ("half", 1, 2)],
        "segment_id string, size bigint, family bigint",
    )
    meets = meets_floor(F.col("size"), F.col("family"), min_size=2, min_share=0.3)
    shown = sizes.select("segment_id", meets.alias("meets"), suppressed_unless(meets, F.lit(0.5)).alias("kpi"))
    assert {r.segment_id: (r.meets, r.kpi) for r in shown.collect()} == {
        "S001": (True, 0.5),
        "S002": (False, None),  # 2/7 under the share floor
        "vip": (False, None),
        "edge": (True, 0.5),  # exactly 0.3
        "half": (False, None),  # share 0.5 but 1 subject
    }
