from __future__ import annotations

import pytest
from chispa import assert_df_equality

from seglib.config.features import LifetimeConfig, RfmConfig
from seglib.features.rfm import (
    RfmThresholds,
    compute_rfm_thresholds,
    order_features,
    with_aov,
    with_clv_bracket,
    with_rfm_scores,
)
from tests.features.silver_data import AS_OF, orders_df

COLS = ["subject_id", "recency_days", "frequency_30d", "frequency_90d", "frequency_365d"]
MONEY = ["subject_id", "monetary_30d", "monetary_90d", "monetary_365d", "clv_historical"]


@pytest.fixture
def orders(spark):
    return orders_df(
        spark,
        [
            ("a", "2024-02-29 23:59:59", "completed", "10.00", "10.00"),  # 1 day before snapshot
            ("a", "2024-01-15 10:00:00", "completed", "20.00", "20.00"),  # 46 days
            ("a", "2023-06-01 10:00:00", "completed", "30.00", "30.00"),  # 274 days
            ("a", "2022-01-01 10:00:00", "completed", "99.00", "99.00"),  # outside 365 days, still CLV
            ("a", "2024-02-20 10:00:00", "refunded", "20.00", "-20.00"),  # refund netted, not an order
            ("a", "2024-02-21 10:00:00", "cancelled", "50.00", "0.00"),
            ("a", "2024-03-01 00:00:00", "completed", "500.00", "500.00"),  # exactly at cut-off: excluded
            ("a", "2024-03-05 00:00:00", "completed", "700.00", "700.00"),  # after as_of: excluded
            ("r", "2024-02-10 10:00:00", "refunded", "15.00", "-15.00"),  # only refunds
        ],
    )


def test_order_features_windows_and_point_in_time(spark, orders):
    out = order_features(orders, AS_OF)
    expected = spark.createDataFrame(
        [("a", 1, 1, 2, 3), ("r", None, 0, 0, 0)],
        "subject_id string, recency_days int, frequency_30d long, frequency_90d long, frequency_365d long",
    )
    assert_df_equality(out.select(COLS), expected, ignore_row_order=True, ignore_nullable=True)


def test_monetary_is_net_of_refunds_and_only_refunds_is_negative(spark, orders):
    out = order_features(orders, AS_OF).select(MONEY)
    expected = spark.createDataFrame(
        [("a", -10.0, 10.0, 40.0, 139.0), ("r", -15.0, -15.0, -15.0, -15.0)],
        "subject_id string, monetary_30d double, monetary_90d double, monetary_365d double, clv_historical double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_aov_null_without_orders(spark):
    df = spark.createDataFrame(
        [("a", 40.0, 2), ("b", 0.0, 0)], "subject_id string, monetary_365d double, frequency_365d long"
    )
    out = df.transform(with_aov).select("subject_id", "aov_365d")
    expected = spark.createDataFrame([("a", 20.0), ("b", None)], "subject_id string, aov_365d double")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def _rfm_population(spark):
    rows = [(f"s{i}", 10 * i, i, 100.0 * i) for i in range(1, 11)] + [("none", None, 0, 0.0)]
    return spark.createDataFrame(rows, "subject_id string, recency_days int, frequency_365d long, monetary_365d double")


def test_thresholds_are_quantiles_over_buyers(spark):
    th = compute_rfm_thresholds(_rfm_population(spark), RfmConfig(score_bins=5, quantile_relative_error=0.0))
    assert th.recency == [20.0, 40.0, 60.0, 80.0]
    assert th.frequency == [2.0, 4.0, 6.0, 8.0]
    assert th.monetary == [200.0, 400.0, 600.0, 800.0]
    assert th.probabilities == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert RfmThresholds.from_dict(th.to_dict()) == th


def test_scores_cell_and_metadata(spark):
    th = RfmThresholds([20.0, 40.0, 60.0, 80.0], [2.0, 4.0, 6.0, 8.0], [200.0, 400.0, 600.0, 800.0], [0.2, 0.4])
    out = with_rfm_scores(_rfm_population(spark), th, RfmConfig(recency_weight=2.0))
    got = {r.subject_id: (r.r_score, r.f_score, r.m_score, r.rfm_cell, r.rfm_score) for r in out.collect()}
    assert got["s1"] == (5, 1, 1, "511", 12.0)  # most recent, least frequent
    assert got["s10"] == (1, 5, 5, "155", 12.0)
    assert got["s5"] == (3, 3, 3, "333", 12.0)
    assert got["none"] == (1, 1, 1, "111", 4.0)
    assert out.schema["r_score"].metadata["rfm_thresholds"]["recency_days"] == th.recency


def test_clv_bracket_edges_inclusive(spark):
    df = spark.createDataFrame(
        [("a", -5.0), ("b", 0.0), ("c", 100.0), ("d", 100.01), ("e", 5000.0)],
        "subject_id string, clv_historical double",
    )
    out = with_clv_bracket(df, LifetimeConfig()).select("subject_id", "clv_bracket")
    expected = spark.createDataFrame(
        [("a", "none"), ("b", "none"), ("c", "low"), ("d", "medium"), ("e", "top")],
        "subject_id string, clv_bracket string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_lifetime_config_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="one more entry"):
        LifetimeConfig(clv_bracket_edges=[0.0], clv_bracket_labels=["a"])
