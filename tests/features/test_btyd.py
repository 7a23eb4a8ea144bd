from __future__ import annotations

from datetime import timedelta

import pytest
from chispa import assert_approx_df_equality, assert_df_equality

from seglib.config.features import BtydConfig
from seglib.features.btyd import btyd_features, recency_gap_ratio
from seglib.generate.btyd import BtydTruth, simulate_orders
from tests.features.silver_data import AS_OF, orders_df

CFG = BtydConfig(min_buyers=5)
# A BG/NBD process with known parameters (weekly alpha), 400 customers over the year before the cut-off: a dozen
# literal buyers give no interior maximum (the fit is then refused: see test_btyd_columns_are_null_without_a_fit).
TRUTH = BtydTruth(r=0.25, alpha=4.0, a=0.8, b=2.5, p_spend=6.0, q=4.0, v=15.0, period_days=7)
LATER = [  # after the cut-off (and exactly at it): must change nothing
    ("btyd-0000001", "2024-03-01 00:00:00", "completed", "10.00", "10.00"),
    ("btyd-0000002", "2024-03-04 10:00:00", "completed", "10.00", "10.00"),
    ("newcomer", "2024-03-05 10:00:00", "completed", "10.00", "10.00"),
]
ORDER_COLUMNS = ["subject_id", "order_ts", "status", "net_amount"]


@pytest.fixture(scope="module")
def simulated(spark):
    start = AS_OF - timedelta(days=364)
    return simulate_orders(spark, TRUTH, 400, start, 364, 182, seed=5).select(*ORDER_COLUMNS).persist()


@pytest.fixture(scope="module")
def subjects(spark, simulated):
    extra = spark.createDataFrame([("newcomer",), ("never_bought",)], "subject_id string")
    return simulated.select("subject_id").distinct().unionByName(extra)


@pytest.fixture(scope="module")
def built(simulated, subjects):
    return btyd_features(simulated, subjects, AS_OF, CFG).orderBy("subject_id").persist()


def test_btyd_columns_are_a_probability_and_a_count(simulated, built):
    rows = built.collect()
    assert [r.subject_id for r in rows] == sorted(r[0] for r in simulated.select("subject_id").distinct().collect())
    assert all(0 < r.btyd_p_alive <= 1 for r in rows)
    assert all(r.btyd_expected_purchases >= 0 for r in rows)
    one_timers = [r for r in rows if r.recency_gap_ratio is None]
    assert one_timers and {r.btyd_p_alive for r in one_timers} == {1.0}  # no repeat: no chance yet to drop out
    assert max(r.btyd_p_alive for r in rows) == 1.0 and min(r.btyd_p_alive for r in rows) < 0.5


def test_btyd_columns_ignore_orders_after_the_cut_off(spark, simulated, subjects, built):
    later = simulated.unionByName(orders_df(spark, LATER).select(*ORDER_COLUMNS))
    out = btyd_features(later, subjects, AS_OF, CFG).orderBy("subject_id")
    assert_approx_df_equality(out, built, precision=1e-12)


LITERAL = [
    ("a", "2023-06-01 10:00:00", "completed", "10.00", "10.00"),
    ("a", "2023-09-01 10:00:00", "completed", "10.00", "10.00"),
    ("b", "2023-07-01 10:00:00", "completed", "10.00", "10.00"),
    ("c", "2023-08-01 10:00:00", "refunded", "10.00", "-10.00"),
]


def test_btyd_columns_are_null_without_a_fit(spark):
    subjects = spark.createDataFrame([("a",), ("b",), ("c",), ("d",)], "subject_id string")
    out = btyd_features(orders_df(spark, LITERAL), subjects, AS_OF, CFG)  # 2 buyers < 5
    rows = {r.subject_id: r for r in out.collect()}
    assert sorted(rows) == ["a", "b"]  # buyers only
    assert {(r.btyd_p_alive, r.btyd_expected_purchases) for r in rows.values()} == {(None, None)}
    assert rows["a"].recency_gap_ratio == pytest.approx(182 / 92) and rows["b"].recency_gap_ratio is None


def test_btyd_columns_without_orders(spark):
    subjects = spark.createDataFrame([("a",)], "subject_id string")
    out = btyd_features(orders_df(spark, []), subjects, AS_OF, CFG)  # no fit, no failure
    assert out.columns == ["subject_id", "btyd_p_alive", "btyd_expected_purchases", "recency_gap_ratio"]
    assert out.isEmpty()


def test_recency_gap_ratio_is_days_since_last_over_the_mean_gap(spark):
    orders = orders_df(
        spark,
        [
            ("a", "2024-01-01 10:00:00", "completed", "1.00", "1.00"),
            ("a", "2024-01-11 23:00:00", "completed", "1.00", "1.00"),
            ("a", "2024-01-21 01:00:00", "completed", "1.00", "1.00"),  # days 0, 10, 20: mean gap 10
            ("a", "2024-01-21 09:00:00", "completed", "1.00", "1.00"),  # same day: no new gap
            ("a", "2024-01-25 09:00:00", "cancelled", "1.00", "0.00"),  # not a purchase
            ("b", "2024-02-01 10:00:00", "completed", "1.00", "1.00"),  # one order day: undefined
        ],
    )
    out = recency_gap_ratio(orders, AS_OF)  # 2024-03-01: 40 days after a's last order day
    expected = out.sparkSession.createDataFrame([("a", 4.0), ("b", None)], out.schema)
    assert_df_equality(out, expected, ignore_row_order=True)
