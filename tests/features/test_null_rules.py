"""One test per documented missing-data rule of the data dictionary (null vs 0 vs a value), on one tiny feature build.

Subjects (all consented): ``full`` has every kind of data; ``orders_only``, ``events_only`` (one page view),
``clicker`` (one e-mail open, two clicks) and ``texts_only`` (a text without interest or sentiment words) each lack
something. The last test checks that every column whose dictionary text states a null/zero rule is covered here.
"""

from __future__ import annotations

import pytest
from chispa import assert_approx_df_equality
from pyspark.sql import functions as F

from seglib.config.features import FeaturesConfig
from seglib.features import build_feature_set, feature_column_comments
from seglib.features.build import with_engagement_index
from tests.features.silver_data import AS_OF, consents_df, customers_history_df, events_df, orders_df, texts_df

CFG = FeaturesConfig.model_validate({"psychographics": {"engine": "builtin"}})
WEEK = 90 / 7
CATEGORIES = [f"affinity_{c}" for c in CFG.engagement.categories]
INTERESTS = [f"interest_{c}" for c in CFG.psychographics.interests]
SHARES = [c for c in feature_column_comments(CFG) if "_share" in c]

# Columns each rule test covers (test_every_documented_rule_is_tested compares this with the dictionary).
RULE_COLUMNS: dict[str, list[str]] = {
    "no_completed_orders": [
        "recency_days", "frequency_30d", "frequency_90d", "frequency_365d", "monetary_30d", "monetary_90d",
        "monetary_365d", "aov_365d", "clv_historical", "r_score", "f_score",
    ],
    "no_events_counts": [
        "events_90d", "sessions_90d", "page_views_90d", "email_opens_90d", "email_clicks_90d", "product_views_90d",
        "searches_90d", "support_tickets_90d", "feature_uses_90d", "email_open_rate_90d",
        "feature_uses_per_week_90d", "engagement_trend", *CATEGORIES,
    ],
    "no_events_shares": SHARES,
    "no_sessions": ["browse_depth_90d", "searches_per_session_90d"],
    "no_email_opens": ["email_click_rate_90d"],
    "fewer_than_two_sessions": ["avg_days_between_sessions_90d"],
    "no_signup": ["onboarding_completed"],
    "no_eligible_carts": ["cart_abandonment_rate_90d"],
    "no_texts": ["text_count", "sentiment_score", *INTERESTS],
    "no_texts_keywords": ["top_keywords"],
    "no_crm_row": [
        "age_band", "gender", "income_band", "company_size_band", "industry", "plan", "plan_tier", "region", "is_b2b",
        "country",
    ],
    "no_known_date": ["tenure_days"],
    "undefined_index_input": ["engagement_index"],
    "no_btyd_fit_or_orders": ["btyd_p_alive", "btyd_expected_purchases", "recency_gap_ratio"],
}  # fmt: skip


@pytest.fixture(scope="module")
def features(spark):
    silver = {
        "consents": consents_df(
            spark, [(s, True) for s in ("full", "orders_only", "events_only", "clicker", "texts_only")]
        ),
        "customers_history": customers_history_df(spark, [("full", "2023-01-01", "DE", "premium", False)]),
        "orders": orders_df(
            spark,
            [
                ("full", "2024-02-20 10:00:00", "completed", "50.00", "50.00"),
                ("orders_only", "2024-01-15 10:00:00", "completed", "30.00", "30.00"),
            ],
        ),
        "events": events_df(
            spark,
            [
                ("full", "2024-02-01 09:00:00", "signup", "f1", "web", "desktop", "DE", "books"),  # Thursday
                ("full", "2024-02-05 09:00:00", "feature_use", "f2"),  # Monday
                ("full", "2024-02-10 09:00:00", "email_open", "f3", "email", "mobile"),  # Saturday
                ("full", "2024-02-10 09:01:00", "email_open", "f3", "email", "mobile"),
                ("full", "2024-02-10 09:02:00", "email_click", "f3", "email", "mobile"),
                ("full", "2024-02-10 10:00:00", "add_to_cart", "f3"),
                ("full", "2024-02-10 10:10:00", "purchase", "f3"),
                ("full", "2024-02-10 10:20:00", "search", "f3"),
                ("events_only", "2024-02-20 12:00:00", "page_view", "e1"),  # Tuesday afternoon
                ("clicker", "2024-02-15 08:00:00", "email_open", "c1", "email", "mobile"),
                ("clicker", "2024-02-15 08:01:00", "email_click", "c1", "email", "mobile"),
                ("clicker", "2024-02-15 08:02:00", "email_click", "c1", "email", "mobile"),
            ],
        ),
        "texts": texts_df(
            spark,
            [
                ("full", "2024-02-01 10:00:00", "love running"),
                ("texts_only", "2024-01-05 10:00:00", "nothing to say here"),
            ],
        ),
    }
    # Checkpointed once: every test below reads a few cells of the same small result.
    return build_feature_set(silver, CFG, AS_OF, required_consent="analytics").features.localCheckpoint()


def assert_rule(features, columns: list[str], rows: list[tuple]) -> None:
    """The features of the subjects in ``rows`` (first element = subject_id) equal ``rows`` on ``columns``."""
    actual = features.where(F.col("subject_id").isin([r[0] for r in rows])).select("subject_id", *columns)
    expected = features.sparkSession.createDataFrame(rows, actual.schema)
    assert_approx_df_equality(actual, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True)


def test_no_completed_orders(features):
    cols = RULE_COLUMNS["no_completed_orders"]
    none = (None, 0, 0, 0, 0.0, 0.0, 0.0, None, 0.0, 1, 1)
    # full: the quintile cut points of two buyers (recency 10 and 46 days) put its recency in score 3.
    assert_rule(
        features,
        cols,
        [("events_only", *none), ("texts_only", *none), ("full", 10, 1, 1, 1, 50.0, 50.0, 50.0, 50.0, 50.0, 3, 1)],
    )


def test_no_btyd_fit_or_orders(features):
    # two buyers are fewer than features.btyd.min_buyers (no BG/NBD fit), each with one order day (no gap);
    # tests/features/test_btyd.py covers the fitted columns
    rows = [(s, None, None, None) for s in ("full", "orders_only", "events_only", "texts_only")]
    assert_rule(features, RULE_COLUMNS["no_btyd_fit_or_orders"], rows)


def test_no_events_gives_zero_counts_and_rates(features):
    zeros = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, *[0.0] * len(CATEGORIES))
    books = [1.0 if c == "affinity_books" else 0.0 for c in CATEGORIES]
    full = (8, 3, 0, 2, 1, 0, 1, 0, 1, 2 / WEEK, 1 / WEEK, 1.0, *books)
    assert_rule(features, RULE_COLUMNS["no_events_counts"], [("orders_only", *zeros), ("full", *full)])


def test_no_events_gives_null_shares(features):
    expected = {
        "device_share_desktop": 5 / 8,
        "device_share_mobile": 3 / 8,
        "channel_share_web": 5 / 8,
        "channel_share_email": 3 / 8,
        "daypart_share_morning": 1.0,
        "weekday_share": 2 / 8,
    }
    full = tuple(expected.get(c, 0.0) for c in SHARES)
    assert_rule(features, SHARES, [("orders_only", *[None] * len(SHARES)), ("full", *full)])


def test_no_sessions(features):
    rows = [("orders_only", None, None), ("events_only", 0.0, 0.0), ("full", 0.0, 1 / 3)]
    assert_rule(features, RULE_COLUMNS["no_sessions"], rows)


def test_no_email_opens_gives_null_click_rate_not_one(features):
    # clicker: 2 clicks on 1 open, capped at 1; events_only and orders_only: no opens, so the rate is undefined.
    rows = [("events_only", None), ("orders_only", None), ("full", 0.5), ("clicker", 1.0)]
    assert_rule(features, RULE_COLUMNS["no_email_opens"], rows)


def test_fewer_than_two_sessions(features):
    span_days = 9 + (1 * 60 + 20) / (24 * 60)  # 02-01 09:00 -> 02-10 10:20
    rows = [("events_only", None), ("orders_only", None), ("full", span_days / 2)]
    assert_rule(features, RULE_COLUMNS["fewer_than_two_sessions"], rows)


def test_no_signup(features):
    assert_rule(features, RULE_COLUMNS["no_signup"], [("events_only", None), ("orders_only", None), ("full", 1)])


def test_no_eligible_carts(features):
    rows = [("events_only", None), ("orders_only", None), ("full", 0.0)]
    assert_rule(features, RULE_COLUMNS["no_eligible_carts"], rows)


def test_no_texts(features):
    sports = [1.0 if c == "interest_sports" else 0.0 for c in INTERESTS]
    rows = [
        ("orders_only", 0, None, *[0.0] * len(INTERESTS)),
        ("texts_only", 1, 0.0, *[0.0] * len(INTERESTS)),  # a text without interest or sentiment words
        ("full", 1, 1.0, *sports),
    ]
    assert_rule(features, RULE_COLUMNS["no_texts"], rows)


def test_no_texts_no_keywords(features):
    keywords = {
        r.subject_id: r.top_keywords
        for r in features.where(F.col("subject_id").isin("orders_only", "texts_only"))
        .select("subject_id", *RULE_COLUMNS["no_texts_keywords"])
        .collect()
    }
    assert keywords["orders_only"] is None  # null without texts
    assert keywords["texts_only"] is not None  # an array (empty when every word is a stop word)


def test_no_crm_row(features):
    rows = [
        ("orders_only", *[None] * 10),  # no events either: no country at all
        ("events_only", *[None] * 9, "DE"),  # country from events
        ("full", "25-34", "f", "mid", None, None, "premium", 2, "EU", False, "DE"),
    ]
    assert_rule(features, RULE_COLUMNS["no_crm_row"], rows)


def test_no_known_date(features):
    rows = [("texts_only", None), ("events_only", 10), ("orders_only", 46), ("full", 425)]
    assert_rule(features, RULE_COLUMNS["no_known_date"], rows)


def test_undefined_index_input_counts_as_zero(spark):
    cfg = FeaturesConfig.model_validate({"engagement": {"index_weights": {"email_click_rate_90d": 1.0}}})
    rates = spark.createDataFrame([("half", 0.5), ("one", 1.0), ("no_opens", None)], "subject_id string, r double")
    out = with_engagement_index(rates.withColumnRenamed("r", "email_click_rate_90d"), cfg)
    expected = spark.createDataFrame(
        [("half", 0.5, 0.5), ("one", 1.0, 1.0), ("no_opens", None, 0.0)],
        "subject_id string, email_click_rate_90d double, engagement_index double",
    )
    assert_approx_df_equality(out, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True)


def test_every_documented_rule_is_tested():
    phrases = ("null", "0 if none", "0 when", "1 without")
    documented = {c for c, text in feature_column_comments(CFG).items() if any(p in text for p in phrases)}
    assert documented == {c for cols in RULE_COLUMNS.values() for c in cols}
