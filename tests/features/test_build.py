from __future__ import annotations

import pytest
from chispa import assert_df_equality

from seglib.config import ConfigError, load_config
from seglib.config.features import FeaturesConfig
from seglib.features import build_feature_set, consented_subjects, feature_column_comments
from seglib.features.build import with_engagement_index
from tests.features.silver_data import (
    AS_OF,
    consents_df,
    customers_history_df,
    events_df,
    orders_df,
    texts_df,
)


@pytest.fixture(scope="module")
def silver(spark):
    return {
        "consents": consents_df(
            spark, [("a", True), ("b", True), ("anon", True), ("x", False), ("t", True), ("late", True)]
        ),
        "customers_history": customers_history_df(
            spark,
            [
                ("a", "2023-01-01", "DE", "pro", False),
                ("b", "2023-06-01", "FR", "free", True),
                ("x", "2023-01-01", "DE", "pro", False),
                ("late", "2024-03-10", "DE", "pro", False),  # signs up after the snapshot
            ],
        ),
        "orders": orders_df(
            spark,
            [
                ("a", "2024-02-20 10:00:00", "completed", "50.00", "50.00"),
                ("a", "2023-12-01 10:00:00", "completed", "150.00", "150.00"),
                ("b", "2024-02-10 10:00:00", "refunded", "15.00", "-15.00"),
                ("x", "2024-02-10 10:00:00", "completed", "15.00", "15.00"),
            ],
        ),
        "events": events_df(
            spark,
            [
                ("a", "2024-02-20 09:00:00", "page_view", "s1", "web", "desktop", "DE", "books"),
                ("a", "2024-02-20 09:50:00", "purchase", "s1", "web", "desktop", "DE", "books"),
                ("anon", "2024-02-01 12:00:00", "page_view", "z1", "social", "mobile", "NL", None),
                ("anon", "2024-02-02 12:00:00", "page_view", "z2", "social", "mobile", "NL", None),
                ("x", "2024-02-01 12:00:00", "page_view", "x1"),
                ("late", "2024-03-10 12:00:00", "signup", "l1"),
            ],
        ),
        "texts": texts_df(spark, [("t", "2024-01-05 10:00:00", "love my new laptop")]),
    }


BUILTIN = FeaturesConfig.model_validate({"psychographics": {"engine": "builtin"}})


@pytest.fixture(scope="module")
def built(silver):
    fs = build_feature_set(silver, BUILTIN, AS_OF, required_consent="analytics")
    return fs, {r.subject_id: r.asDict() for r in fs.features.collect()}


def test_one_row_per_consented_subject_with_data(built):
    fs, rows = built
    # x has no analytics consent; "late" only has data after the snapshot
    assert sorted(rows) == ["a", "anon", "b", "t"]
    assert {r["snapshot_date"] for r in rows.values()} == {AS_OF}
    assert fs.text_engine == "builtin"


def test_required_consent_names_the_purpose_that_gates_rows(spark, silver):
    consents = silver["consents"]  # analytics as given; personalization true and marketing_email false for all
    got = {p: consented_subjects(consents, p) for p in ("analytics", "personalization", "marketing_email")}
    ids = "subject_id string"
    assert_df_equality(got["analytics"], spark.createDataFrame([(s,) for s in ("a", "b", "anon", "t", "late")], ids),
                       ignore_row_order=True, ignore_nullable=True)  # fmt: skip
    assert_df_equality(got["personalization"], consents.select("subject_id"), ignore_row_order=True)
    assert got["marketing_email"].count() == 0
    with pytest.raises(ValueError, match="not a consent purpose"):
        consented_subjects(consents, "telemetry")


def test_build_gates_rows_on_the_configured_purpose(spark, silver):
    fs = build_feature_set(silver, BUILTIN, AS_OF, required_consent="personalization")
    expected = spark.createDataFrame([(s,) for s in ("a", "anon", "b", "t", "x")], "subject_id string")
    assert_df_equality(fs.features.select("subject_id"), expected, ignore_row_order=True, ignore_nullable=True)


def test_required_consent_config_accepts_only_known_purposes():
    assert load_config([], ["privacy.required_consent=personalization"]).privacy.required_consent == "personalization"
    with pytest.raises(ConfigError, match="required_consent"):
        load_config([], ["privacy.required_consent=telemetry"])


def test_text_engine_is_none_when_psychographics_are_disabled(silver, built):
    cfg = FeaturesConfig.model_validate({"psychographics": {"enabled": False}})
    # Reused thresholds: no Spark job is needed to know the engine and the columns.
    fs = build_feature_set(silver, cfg, AS_OF, built[0].rfm_thresholds, required_consent="analytics")
    assert fs.text_engine == "none"
    assert "text_count" not in fs.features.columns and "sentiment_score" not in fs.features.columns


def test_columns_are_exactly_the_documented_ones(built):
    fs, _ = built
    assert fs.features.columns == list(feature_column_comments(BUILTIN))


def test_buyer(built):
    a = built[1]["a"]
    assert (a["recency_days"], a["frequency_365d"], a["monetary_365d"], a["aov_365d"]) == (10, 2, 200.0, 100.0)
    assert (a["clv_historical"], a["clv_bracket"], a["tenure_days"]) == (200.0, "medium", 425)
    assert (a["plan"], a["is_b2b"], a["country"], a["text_count"], a["interest_sports"]) == ("pro", False, "DE", 0, 0.0)


def test_anonymous_only_subject(built):
    anon = built[1]["anon"]
    assert (anon["frequency_365d"], anon["monetary_365d"], anon["recency_days"]) == (0, 0.0, None)
    assert (anon["rfm_cell"], anon["age_band"], anon["country"]) == ("111", None, "NL")
    assert (anon["sessions_90d"], anon["channel_share_social"], anon["tenure_days"]) == (2, 1.0, 29)
    assert anon["sentiment_score"] is None


def test_refund_only_and_text_only_subjects(built):
    b, t = built[1]["b"], built[1]["t"]
    assert (b["monetary_365d"], b["frequency_365d"], b["clv_bracket"], b["m_score"]) == (-15.0, 0, "none", 1)
    assert (b["events_90d"], b["sessions_90d"], b["device_share_mobile"]) == (0, 0, None)
    assert (t["text_count"], t["interest_technology"], t["sentiment_score"]) == (1, 1.0, 1.0)


def test_engagement_index_bounded_and_thresholds_returned(built):
    fs, rows = built
    assert all(0.0 <= r["engagement_index"] <= 1.0 for r in rows.values())
    assert rows["anon"]["engagement_index"] > rows["t"]["engagement_index"] == 0.0
    # Quintile cut points from consented buyers only: a (10 days); x (20 days, no analytics consent) is left out.
    assert fs.rfm_thresholds.recency == [10.0] * 4
    assert set(fs.rfm_thresholds.frequency) <= {1.0, 2.0}


def test_unknown_engagement_weight_is_rejected(spark, silver):
    cfg = FeaturesConfig.model_validate({"engagement": {"index_weights": {"nope": 1.0}}})
    with pytest.raises(ValueError, match="nope"):  # raised from the config, before any data is read
        build_feature_set(silver, cfg, AS_OF, required_consent="analytics")
    features = spark.createDataFrame([("a", 1.0)], "subject_id string, events_90d double")
    with pytest.raises(ValueError, match="nope"):  # and by the index itself, on the frame it is given
        with_engagement_index(features, cfg)


def test_every_optional_silver_table_may_be_empty(spark, silver):
    empty = {
        "customers_history": customers_history_df(spark, []),
        "orders": orders_df(spark, []),
        "texts": texts_df(spark, []),
    }
    fs = build_feature_set({**silver, **empty}, BUILTIN, AS_OF, required_consent="analytics")
    cols = ["subject_id", "frequency_365d", "recency_days", "r_score", "plan", "text_count", "sentiment_score"]
    expected = spark.createDataFrame(
        [("a", 0, None, 1, None, 0, None), ("anon", 0, None, 1, None, 0, None)], fs.features.select(cols).schema
    )
    assert_df_equality(fs.features.select(cols), expected, ignore_row_order=True, ignore_nullable=True)
    assert fs.rfm_thresholds.recency == []  # no buyers: no cut points, every r_score is 1

    no_consents = {**silver, "consents": consents_df(spark, [])}
    nobody = build_feature_set(no_consents, BUILTIN, AS_OF, fs.rfm_thresholds, required_consent="analytics")
    assert nobody.features.columns == fs.features.columns
    assert nobody.features.count() == 0
