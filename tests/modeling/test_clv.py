"""CLV: the BTYD summary on literal orders, the aggregation bound, both likelihoods against independent
derivations, parameter recovery from the simulator, the hypergeometric series, predictions, brackets and the
holdout comparison."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import functions as F
from scipy.integrate import quad
from scipy.special import betaln, gammaln, hyp2f1

from seglib.config.clv import ClvConfig
from seglib.generate.btyd import BtydTruth, simulate_orders
from seglib.modeling import clv as C

CUTOFF = date(2024, 3, 1)
TRUTH = BtydTruth(r=0.25, alpha=4.0, a=0.8, b=2.5, p_spend=6.0, q=4.0, v=15.0, period_days=7)  # alpha per week
SIM_START = date(2022, 1, 3)
SIM_WEEKS = 104
SIM_END = SIM_START + timedelta(weeks=SIM_WEEKS)
SUMMARY_SCHEMA = (
    "subject_id string, frequency int, recency int, T int, monetary_value double, monetary_periods int, "
    "monetary_ss double"
)
# 6,000 customers (about 18,000 orders) keep the simulation and both fits to a few Spark queries. Standard errors at
# this size (daily periods): r 0.006, alpha 0.18 weeks, a 0.07, b 0.3; Gamma-Gamma p 0.7, q 0.15, v 1.7.
SIM_CUSTOMERS = 6_000


def _orders(spark, rows):
    return spark.createDataFrame(rows, "subject_id string, order_ts string, status string, net_amount string").select(
        "subject_id",
        F.to_timestamp("order_ts").alias("order_ts"),
        "status",
        F.col("net_amount").cast("decimal(18,2)").alias("net_amount"),
    )


# ---------------------------------------------------------------------------------------------------- summary


def test_summary_counts_purchase_periods_before_the_cutoff(spark):
    orders = _orders(
        spark,
        [
            ("single", "2024-02-01 10:00:00", "completed", "10.00"),
            ("sameday", "2024-02-10 09:00:00", "completed", "5.00"),  # three orders, one purchase day
            ("sameday", "2024-02-10 18:00:00", "completed", "7.00"),
            ("sameday", "2024-02-10 23:59:59", "completed", "0.00"),
            ("weekly", "2024-01-01 08:00:00", "completed", "20.00"),  # days 0, 3, 8: weeks 0, 0, 1
            ("weekly", "2024-01-04 12:00:00", "completed", "30.00"),
            ("weekly", "2024-01-09 00:00:00", "completed", "40.00"),
            ("weekly", "2024-03-01 00:00:00", "completed", "99.00"),  # at the cut-off: after it
            ("zero", "2024-02-01 00:00:00", "completed", "15.00"),
            ("zero", "2024-02-05 00:00:00", "completed", "0.00"),  # a purchase, not a value
            ("zero", "2024-02-20 00:00:00", "completed", "12.50"),
            ("onlyzero", "2024-02-01 00:00:00", "completed", "12.00"),
            ("onlyzero", "2024-02-15 00:00:00", "completed", "0.00"),  # a repeat without a positive value
            ("refunds", "2024-02-01 00:00:00", "completed", "10.00"),
            ("refunds", "2024-02-10 00:00:00", "refunded", "0.00"),  # not purchases
            ("refunds", "2024-02-12 00:00:00", "cancelled", "0.00"),
            ("lastday", "2024-02-29 23:59:59", "completed", "3.00"),
            ("late", "2024-02-29 10:00:00", "refunded", "0.00"),  # its only completed order is at the cut-off
            ("late", "2024-03-01 00:00:00", "completed", "8.00"),
        ],
    )
    out = C.btyd_summary(orders, CUTOFF, "day").withColumn("period", F.lit("day"))
    out = out.unionByName(C.btyd_summary(orders, CUTOFF, "week").withColumn("period", F.lit("week")))
    d = date.fromisoformat
    day = [  # subject, x, t_x, T, monetary_value, monetary_periods, monetary_ss, n_orders, first purchase
        ("single", 0, 0, 29, None, 0, None, 1, d("2024-02-01")),
        ("sameday", 0, 0, 20, None, 0, None, 3, d("2024-02-10")),
        ("weekly", 2, 8, 60, 35.0, 2, 50.0, 3, d("2024-01-01")),  # 30 and 40 around 35: 25 + 25
        ("zero", 2, 19, 29, 12.5, 1, 0.0, 3, d("2024-02-01")),
        ("onlyzero", 1, 14, 29, None, 0, None, 2, d("2024-02-01")),
        ("refunds", 0, 0, 29, None, 0, None, 1, d("2024-02-01")),
        ("lastday", 0, 0, 1, None, 0, None, 1, d("2024-02-29")),
    ]
    week = [
        ("single", 0, 0, 4, None, 0, None, 1, d("2024-02-01")),
        ("sameday", 0, 0, 2, None, 0, None, 3, d("2024-02-10")),
        ("weekly", 1, 1, 8, 40.0, 1, 0.0, 3, d("2024-01-01")),  # days 0 and 3 are one purchase week
        ("zero", 1, 2, 4, 12.5, 1, 0.0, 3, d("2024-02-01")),  # days 0 and 4 share week 0
        ("onlyzero", 1, 2, 4, None, 0, None, 2, d("2024-02-01")),
        ("refunds", 0, 0, 4, None, 0, None, 1, d("2024-02-01")),
        ("lastday", 0, 0, 0, None, 0, None, 1, d("2024-02-29")),  # first seen in the cut-off's last week: T = 0
    ]
    expected = spark.createDataFrame(
        [(*r, "day") for r in day] + [(*r, "week") for r in week],
        "subject_id string, frequency int, recency int, T int, monetary_value double, monetary_periods int, "
        "monetary_ss double, n_orders long, first_purchase_date date, period string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_spend_summary_is_exact_whatever_order_the_periods_arrive_in(spark):
    """A double sum depends on the order of its terms ((0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)), and the order of a
    subject's periods follows the shuffle, i.e. the pseudonyms: the mean and the squared deviations are exact."""
    rows = [
        ("s", "2024-01-01 00:00:00", "completed", "5.00"),  # the first period: not a repeat value
        ("s", "2024-01-02 00:00:00", "completed", "0.10"),
        ("s", "2024-01-03 00:00:00", "completed", "0.20"),
        ("s", "2024-01-04 00:00:00", "completed", "0.30"),
    ]
    for order in itertools.permutations(rows[1:]):
        orders = _orders(spark, [rows[0], *order]).repartition(3)
        out = C.btyd_summary(orders, CUTOFF, "day").select("monetary_value", "monetary_ss").collect()
        assert [tuple(r) for r in out] == [(0.2, 0.02)]


def test_aggregation_keeps_the_weights_within_the_bound(spark):
    rows = [
        ("s1", 0, 0, 5, None, 0, None),
        ("s2", 0, 0, 5, None, 0, None),
        ("s3", 2, 4, 5, 10.0, 2, 2.0),
        ("s4", 2, 4, 5, 10.0, 2, 8.0),
        ("s5", 2, 4, 5, 12.0, 1, 0.0),
        ("s6", 1, 3, 3, None, 0, None),
    ]
    summary = spark.createDataFrame(rows, SUMMARY_SCHEMA)
    agg = C.collect_bounded(C.aggregate_summary(summary), 10, "test")  # sorted: the fit's sums see one order
    assert agg[["frequency", "recency", "T", "weight"]].values.tolist() == [[0, 0, 5, 2], [1, 3, 3, 1], [2, 4, 5, 3]]
    reversed_input = C.collect_bounded(C.aggregate_summary(spark.createDataFrame(rows[::-1], SUMMARY_SCHEMA)), 10, "t")
    pd.testing.assert_frame_equal(agg, reversed_input)
    money = C.aggregate_monetary(summary).collect()
    assert sorted((r.frequency, r.monetary_value, r.weight, r.ss) for r in money) == [
        (1, 12.0, 1, 0.0),
        (2, 10.0, 2, 10.0),
    ]
    with pytest.raises(C.ClvError, match="max_summary_rows = 2"):
        C.collect_bounded(C.aggregate_summary(summary), 2, "test")
    for p in range(7):  # the closed form against brute force: x = 0 forces t_x = 0, else 1 <= x <= t_x <= T <= P
        triples = {(x, tx, t) for t in range(p + 1) for tx in range(t + 1) for x in range(tx + 1) if x > 0 or tx == 0}
        assert C.summary_bound(p) == len(triples)
    assert C.summary_bound(C.history_periods(date(2021, 3, 1), CUTOFF, "week")) == 645_113  # three years of weeks


def test_config_brackets_are_quantiles_below_a_low_rest():
    assert ClvConfig().brackets == {"top": 0.9, "high": 0.7, "medium": 0.4}
    with pytest.raises(ValidationError, match="'low'"):
        ClvConfig(brackets={"high": 0.8, "low": 0.2})
    with pytest.raises(ValidationError, match=r"\(0, 1\)"):
        ClvConfig(brackets={"top": 1.2})
    with pytest.raises(ValidationError):
        ClvConfig(unknown_key=1)


# ---------------------------------------------------------------------------------------------------- likelihoods


def _paper_bgnbd(r, alpha, a, b, x, t_x, T):
    """FHL 2005 eq. 6 as printed, with Beta functions, without logs of sums."""
    head = np.exp(gammaln(r + x) - gammaln(r) + r * np.log(alpha))
    first = np.exp(betaln(a, b + x) - betaln(a, b)) * (alpha + T) ** -(r + x)
    repeat = np.where(x > 0, np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) * (alpha + t_x) ** -(r + x), 0.0)
    return np.log(head * (first + repeat))


def _random_triples(n, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 15, n).astype(float)
    t_x = np.where(x > 0, x + rng.integers(0, 20, n), 0).astype(float)
    return x, t_x, t_x + rng.integers(0, 30, n)


def test_bgnbd_log_likelihood_matches_the_paper():
    x, t_x, T = _random_triples(200)
    for params in [(0.243, 4.414, 0.793, 2.426), (1.7, 12.0, 0.3, 5.0), (0.05, 0.5, 3.0, 0.7)]:
        ours = C.bgnbd_log_likelihood(params, x, t_x, T)
        np.testing.assert_allclose(ours, _paper_bgnbd(*params, x, t_x, T), rtol=1e-9)


def test_gamma_gamma_log_likelihood_matches_integrating_out_nu():
    """The density of the mean of x Gamma(p, nu) spends (Gamma(p x, rate x nu)), nu ~ Gamma(q, rate v) integrated
    out by quadrature."""
    p, q, v = 6.0, 4.0, 15.0
    for x, m in [(1, 10.0), (3, 42.5), (12, 7.25)]:

        def integrand(nu, x=x, m=m):
            log_m = (p * x) * np.log(x * nu) + (p * x - 1) * np.log(m) - x * nu * m - gammaln(p * x)
            log_nu = q * np.log(v) + (q - 1) * np.log(nu) - v * nu - gammaln(q)
            return np.exp(log_m + log_nu)

        expected = math.log(quad(integrand, 0, np.inf, limit=200, epsabs=0)[0])
        ours = C.gamma_gamma_log_likelihood((p, q, v), np.array([float(x)]), np.array([m]))[0]
        assert ours == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------------------------------------------- simulation


@pytest.fixture(scope="module")
def simulated(spark):
    orders = simulate_orders(spark, TRUTH, SIM_CUSTOMERS, SIM_START, SIM_WEEKS * 7, SIM_WEEKS * 7 // 2, seed=11)
    return orders.persist()


@pytest.fixture(scope="module")
def day_fit(simulated):
    """Both models on the daily summary at the end of the simulation, plus the per-subject BG/NBD rows."""
    summary = C.btyd_summary(simulated, SIM_END, "day").persist()
    models = C.fit_models(summary, ClvConfig(period="day"))
    per_subject = summary.select("frequency", "recency", "T").toPandas()  # tests only: compare with the unaggregated
    summary.unpersist()
    return models, per_subject


def test_fit_recovers_the_simulated_parameters(day_fit):
    """Daily periods (the orders' own resolution) against the true weekly process: alpha in days is 7 x alpha in
    weeks; r, a, b are unit-free. Each estimate within 4 standard errors (inverse Hessian at the optimum) of the
    truth: the discretisation to days moves alpha up by about 0.15 weeks (~1 SE at 6,000 customers), well inside."""
    models, _ = day_fit
    bg, gg = models.bgnbd, models.gamma_gamma
    C.check_publishable(bg)
    C.check_publishable(gg)
    truth = {"r": TRUTH.r, "alpha": TRUTH.alpha * 7, "a": TRUTH.a, "b": TRUTH.b, "p": TRUTH.p_spend}
    truth |= {"q": TRUTH.q, "v": TRUTH.v}
    estimates = {**vars(bg.params), **vars(gg.params)}
    errors = {**bg.std_errors, **gg.std_errors}
    for name, true in truth.items():
        assert abs(estimates[name] - true) < 4 * errors[name], (name, estimates[name], true, errors[name])
        assert errors[name] < 0.25 * true, (name, errors[name])  # and the test has power
    assert bg.n_subjects == SIM_CUSTOMERS
    assert models.summary_rows < bg.n_subjects  # the aggregation merged subjects


def test_the_aggregated_fit_is_the_per_subject_fit(day_fit):
    models, per_subject = day_fit
    unaggregated = C.fit_bgnbd(per_subject)
    assert unaggregated.n_rows == SIM_CUSTOMERS > models.bgnbd.n_rows
    assert unaggregated.log_likelihood == pytest.approx(models.bgnbd.log_likelihood, rel=1e-9)
    for name, value in vars(models.bgnbd.params).items():
        assert getattr(unaggregated.params, name) == pytest.approx(value, rel=1e-4)


def test_non_converged_and_degenerate_fits_are_refused():
    _, t_x, T = _random_triples(300)
    never_again = pd.DataFrame({"frequency": 0.0, "recency": 0.0, "T": T})  # no repeat: the rate collapses to 0
    degenerate = C.fit_bgnbd(never_again)
    assert degenerate.at_bound
    with pytest.raises(C.ClvError, match=r"bounds.*'r'"):
        C.check_publishable(degenerate)
    x, t_x, T = _random_triples(300)
    stopped = C.fit_bgnbd(pd.DataFrame({"frequency": x, "recency": t_x, "T": T}), max_iter=1)
    assert not stopped.converged
    with pytest.raises(C.ClvError, match="did not converge"):
        C.check_publishable(stopped)
    heavy_tail = C.GammaGammaFit(-1.0, 10, 5, True, 20, "ok", False, {}, C.GammaGammaParams(2.0, 0.9, 10.0))
    with pytest.raises(C.ClvError, match="q <= 1"):
        C.check_publishable(heavy_tail)


# ---------------------------------------------------------------------------------------------------- predictions


def _paper_expected(bg: C.BgNbdParams, x, t_x, T, t):
    """FHL 2005 eq. 10 with scipy's hyp2f1."""
    r, alpha, a, b = bg.r, bg.alpha, bg.a, bg.b
    z = t / (alpha + T + t)
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    alive = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    return (a + b + x - 1) / (a - 1) * bracket * alive, alive


CDNOW = C.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # FHL 2005's CDNOW estimates (weeks)
TRIPLES = [(0, 0, 0), (0, 0, 30), (1, 1, 1), (2, 20, 30), (10, 25, 39), (60, 80, 100), (200, 210, 700)]
HYP = [
    (0.25, 2.5, 2.3, 0.5),
    (1.3, 3.5, 3.3, 0.9),
    (10.25, 12.5, 12.3, 0.3),
    (0.5, -0.2, 1.5, 0.8),
    (2.0, 3.0, 4.5, 0.0),
]


def test_series_match_scipy_hyp2f1_and_the_paper(spark):
    """One query: the plain 2F1 series (600 terms) against scipy.special.hyp2f1, and expected purchases / P(alive)
    from the transformed series (terms chosen per row by series_plan for a 1e-9 bound) against eq. 10 with scipy, at
    39 and 52 weeks; at a = 1 exactly (the removable singularity of eq. 10) against a = 1 +- 1e-6."""
    near_one = C.BgNbdParams(0.5, 6.0, 1.0, 2.0)
    padded = itertools.zip_longest(HYP, TRIPLES, fillvalue=(1.0, 1.0, 1.0, 0.0))  # 2F1(.; z = 0) = 1
    frame = spark.createDataFrame(
        [(i, *map(float, h), *map(float, t)) for i, (h, t) in enumerate(padded)],
        "i int, ha double, hb double, hc double, hz double, frequency double, recency double, T double",
    )
    out = frame.select(
        "i",
        C.hyp2f1_series("ha", "hb", "hc", "hz", 600).alias("hyp"),
        C.probability_alive(CDNOW).alias("alive"),
        C.expected_purchases(CDNOW, 39.0).alias("e39"),
        C.expected_purchases(CDNOW, 52.0).alias("e52"),
        C.expected_purchases(near_one, 52.0).alias("e_a1"),
    ).collect()
    rows = {r.i: r for r in out}
    for i, (a, b, c, z) in enumerate(HYP):  # the padding rows are 2F1 at z = 0
        assert rows[i].hyp == pytest.approx(hyp2f1(a, b, c, z), rel=1e-10)
    for i, (x, t_x, T) in enumerate(TRIPLES):
        e39, alive = _paper_expected(CDNOW, x, t_x, T, 39.0)
        e52, _ = _paper_expected(CDNOW, x, t_x, T, 52.0)
        assert rows[i].alive == pytest.approx(alive, rel=1e-12, abs=1e-300)
        assert rows[i].e39 == pytest.approx(e39, rel=1e-9, abs=2e-9)
        assert rows[i].e52 == pytest.approx(e52, rel=1e-9, abs=2e-9)
        around = [_paper_expected(C.BgNbdParams(0.5, 6.0, 1 + s, 2.0), x, t_x, T, 52.0)[0] for s in (-1e-6, 1e-6)]
        assert rows[i].e_a1 == pytest.approx(sum(around) / 2, rel=1e-5, abs=1e-9)
    assert rows[0].alive == 1.0 and rows[1].alive == 1.0  # x = 0: no chance yet to drop out
    assert rows[6].alive < 1e-30  # 200 repeat weeks then silence for 490: gone
    assert C.series_terms(CDNOW, 52.0) < 400


def test_predict_clv_discounts_monthly_steps_of_expected_purchases(spark):
    cfg = ClvConfig(period="week", horizon_days=364, annual_discount_rate=0.1, brackets={"top": 0.75, "mid": 0.25})
    gg = C.GammaGammaParams(p=6.0, q=4.0, v=15.0)
    subjects = [  # subject_id, x, t_x, T, monetary_value, monetary_periods
        ("new", 0, 0, 0, None, 0),
        ("once", 0, 0, 40, None, 0),
        ("loyal", 12, 38, 40, 35.0, 12),
        ("lapsed", 12, 10, 40, 35.0, 12),
        ("zero_value", 3, 30, 40, None, 0),
    ]
    summary = spark.createDataFrame(
        subjects, "subject_id string, frequency int, recency int, T int, monetary_value double, monetary_periods int"
    )
    predictions = C.predict_clv(summary, CDNOW, gg, cfg).persist()
    rows = {r.subject_id: r for r in predictions.collect()}
    steps = C.clv_steps(364, "week", 0.1)
    assert len(steps) == 13 and steps[0][0] == pytest.approx(4.0)  # 13 steps of 4 weeks
    for name, x, t_x, T, m, mx in subjects:
        ends = [_paper_expected(CDNOW, x, t_x, T, t)[0] for t, _ in steps]
        discounted = sum(d * (e - prev) for (_, d), e, prev in zip(steps, ends, [0.0, *ends[:-1]], strict=True))
        value = gg.p * (gg.v + mx * m) / (gg.p * mx + gg.q - 1) if mx else gg.population_mean
        assert rows[name].expected_purchases == pytest.approx(ends[-1], rel=1e-8)
        assert rows[name].expected_avg_value == pytest.approx(value, rel=1e-12)
        assert rows[name].predicted_clv == pytest.approx(value * discounted, rel=1e-8)
    assert rows["zero_value"].expected_avg_value == pytest.approx(30.0)  # the population mean p v / (q - 1)
    assert rows["loyal"].predicted_clv > rows["lapsed"].predicted_clv  # same history, the lapsed one went quiet
    thresholds = C.bracket_thresholds(predictions, cfg.brackets)
    assert list(thresholds) == ["top", "mid"] and thresholds["top"] >= thresholds["mid"]
    brackets = {r.subject_id: r.clv_bracket for r in C.with_clv_brackets(predictions, thresholds).collect()}
    assert brackets["loyal"] == "top" and brackets["lapsed"] != "top"
    assert sorted(brackets.values()).count("low") >= 1
    predictions.unpersist()


# ---------------------------------------------------------------------------------------------------- spend fallback


def _spend_and_predictions(spark, rows, cfg):
    """fit_spend on literal summary rows (subject, x, t_x, T, m, positive repeat periods, their ss) through the
    aggregated table, and the predictions of its spend model with CDNOW's BG/NBD."""
    summary = spark.createDataFrame(rows, SUMMARY_SCHEMA)
    spend = C.fit_spend(C.collect_bounded(C.aggregate_monetary(summary), 100, "test"), cfg)
    predictions = {r.subject_id: r for r in C.predict_clv(summary, CDNOW, spend.params, cfg).collect()}
    for r in predictions.values():
        assert 0 < r.expected_avg_value < math.inf and 0 < r.predicted_clv < math.inf, r
    return spend, predictions


def test_gamma_gamma_at_a_bound_falls_back_to_each_subjects_own_mean(spark):
    """Every subject spends the same in each of its periods (ss = 0) but subjects differ: ML runs p to 1e6 (no
    within-subject variance), so the spend model is the shrunk mean with k = 0: each subject's own mean, and the
    population mean (the mean of the subjects' means) for a subject without a positive repeat value."""
    means = [10.0, 30.0, 25.0, 12.0, 18.0, 40.0, 22.0, 15.0]
    rows = [
        (f"s{i}", x, x + 2, 20, m, x, 0.0) for i, (x, m) in enumerate(zip([1, 2, 1, 3, 1, 2, 1, 2], means, strict=True))
    ]
    rows.append(("novalue", 1, 5, 20, None, 0, None))
    spend, predictions = _spend_and_predictions(spark, rows, ClvConfig(min_repeat_customers=4))
    assert spend.method == "shrunk_mean" and "bounds" in spend.reason, spend.reason
    assert spend.gamma_gamma.params.p == pytest.approx(1e6) and spend.params == C.ShrunkMeanParams(21.5, 0.0)
    assert {s: predictions[s].expected_avg_value for s in predictions} == {
        **{f"s{i}": pytest.approx(m, rel=1e-12) for i, m in enumerate(means)},
        "novalue": pytest.approx(21.5, rel=1e-12),
    }


def test_too_few_repeat_buyers_shrink_their_means_toward_the_population_mean(spark):
    """3 subjects with a positive repeat value (clv.min_repeat_customers: 20): Gamma-Gamma is not tried;
    Buhlmann-Straub by hand: within variance (0 + 50 + 8) / (0 + 1 + 2) = 58/3, between variance
    (sum x (m - 21.667)^2 - 2 x 58/3) / (6 - 14/6) = 66.727, k = 0.2897, mu = sum Z m / sum Z, Z = x / (x + k)."""
    rows = [("a", 1, 3, 10, 10.0, 1, 0.0), ("b", 2, 8, 10, 30.0, 2, 50.0), ("c", 3, 9, 10, 20.0, 3, 8.0)]
    rows.append(("once", 0, 0, 10, None, 0, None))
    spend, predictions = _spend_and_predictions(spark, rows, ClvConfig())
    assert spend.method == "shrunk_mean" and "min_repeat_customers = 20" in spend.reason
    assert spend.gamma_gamma is None
    x, m = np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0])
    within = 58 / 3
    between = (x @ (m - x @ m / 6) ** 2 - 2 * within) / (6 - x @ x / 6)
    k = within / between
    z = x / (x + k)
    mu = z @ m / z.sum()
    assert spend.params.shrinkage == pytest.approx(k, rel=1e-12) and between == pytest.approx(66.7273, rel=1e-5)
    assert spend.params.population_mean == pytest.approx(mu, rel=1e-12)
    for name, zi, mi in zip("abc", z, m, strict=True):
        assert predictions[name].expected_avg_value == pytest.approx(mu + zi * (mi - mu), rel=1e-12)
    assert predictions["once"].expected_avg_value == pytest.approx(mu, rel=1e-12)


def test_spend_without_heterogeneity_is_the_population_mean_for_everyone(spark):
    """Identical spend everywhere: ML would stop anywhere on the ridge q, v -> inf (it 'converges' at p = 2,500,
    q = 14,500), so it is not tried: k is capped and every subject is valued at the mean. Nearly identical means
    (relative sd 1e-4), and means that vary less than their within-subject variance explains, are the same case."""
    rows = [(f"s{i}", 1 + i % 3, 5, 20, 25.0, 1 + i % 3, 0.0) for i in range(25)] + [("n", 0, 0, 20, None, 0, None)]
    spend, predictions = _spend_and_predictions(spark, rows, ClvConfig())
    assert spend.method == "shrunk_mean" and "no spend heterogeneity" in spend.reason
    assert spend.params == C.ShrunkMeanParams(pytest.approx(25.0, rel=1e-12), C.SHRINKAGE_CAP)
    assert [r.expected_avg_value for r in predictions.values()] == [pytest.approx(25.0, rel=1e-12)] * 26
    nearly = pd.DataFrame({"frequency": [1, 2, 3, 1, 2], "monetary_value": [25.0, 25.004, 24.998, 25.001, 25.0]})
    noise = nearly.assign(monetary_value=[20.0, 30.0, 26.0, 24.0, 25.0], ss=[0.0, 200.0, 400.0, 0.0, 200.0])
    for money in (nearly.assign(weight=1), noise.assign(weight=1)):
        fallback = C.fit_spend(money, ClvConfig(min_repeat_customers=4))
        assert (fallback.method, fallback.params.shrinkage) == ("shrunk_mean", C.SHRINKAGE_CAP)
        assert "no spend heterogeneity" in fallback.reason


def test_spend_moments_estimate_the_gamma_gamma_shrinkage(day_fit):
    """Gamma-Gamma's k = (q - 1) / p is exactly within / between-subject variance (E[p / nu^2] / Var(p / nu)), so
    on the simulator's Gamma-Gamma spend (k = 0.5, mean 30) the moments estimate both; the fit itself stays ML."""
    models, _ = day_fit
    moments = models.spend.moments
    assert models.spend.method == "mle" and models.spend.params == models.gamma_gamma.params
    assert moments.within_variance / moments.between_variance == pytest.approx((TRUTH.q - 1) / TRUTH.p_spend, abs=0.15)
    assert moments.mean == pytest.approx(TRUTH.p_spend * TRUTH.v / (TRUTH.q - 1), abs=1.0)


# ---------------------------------------------------------------------------------------------------- holdout


def test_holdout_predictions_match_the_simulated_purchases(simulated, tmp_path):
    """Weekly periods, calibration to 26 weeks before the end. The total's tolerance is 4 standard deviations of
    the sum of per-subject errors (sqrt(n) x RMSE: 11% of the total here, where the error is 2.6%)."""
    cfg = ClvConfig(period="week")
    calibration = SIM_END - timedelta(weeks=26)
    summary = C.btyd_summary(simulated, calibration, "week").persist()
    models = C.fit_models(summary, cfg)
    result = C.holdout_comparison(simulated, calibration, SIM_END, models.bgnbd.params, cfg, summary)
    summary.unpersist()
    assert result.subjects == models.bgnbd.n_subjects
    assert result.holdout_periods == 26
    tolerance = 4 * math.sqrt(result.subjects) * result.rmse
    assert abs(result.predicted_total - result.actual_total) < tolerance, result
    assert result.correlation > 0.5
    assert [r["bucket"] for r in result.by_frequency] == [*map(str, range(8)), "8+"]
    assert sum(r["subjects"] for r in result.by_frequency) == result.subjects
    means = [r["mean_predicted"] for r in result.by_frequency]
    assert means[-1] > means[0]  # more past purchases, more predicted ones
    plot = C.plot_holdout(result, tmp_path / "holdout.png")
    assert plot.stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------------- registry


@pytest.mark.parametrize("method", ["mle", "shrunk_mean"])
def test_registry_round_trip_pyfunc_predicts_like_spark(spark, day_fit, tmp_path_factory, method):
    """Logged as a pyfunc with its parameters, registered, gated to champion, loaded by alias: the parameters come
    back exact, the spend method is a param and a tag of the version, and the numpy pyfunc predicts what the Spark
    columns predict; with Gamma-Gamma and with the shrunk-mean fallback."""
    import dataclasses

    import mlflow
    from mlflow import MlflowClient

    from seglib.config import MlflowConfig, SeglibConfig, WarehouseConfig
    from seglib.modeling.clv_model import INPUT_COLUMNS, ClvParameters
    from seglib.tracking import clv_model_name, load_clv_parameters, log_clv, setup_mlflow

    models, _ = day_fit
    if method == "shrunk_mean":
        shrunk = C.SpendModel(method, "a test", C.ShrunkMeanParams(31.5, 0.6), None, models.spend.moments)
        models = dataclasses.replace(models, spend=shrunk)
    cfg = SeglibConfig(
        warehouse=WarehouseConfig(path=str(tmp_path_factory.mktemp("clv_mlflow") / "warehouse")),
        mlflow=MlflowConfig(experiment="clv-test"),
        clv=ClvConfig(period="day", horizon_days=180),
    )
    fitted = ClvParameters(models.bgnbd.params, models.spend.params, "day", 180, 0.1)
    comparison = C.HoldoutComparison(date(2024, 1, 1), date(2024, 4, 1), 91.0, 100, 50.0, 52.0, 0.04, 0.3, 0.5, 0.6)
    setup_mlflow(cfg)
    with mlflow.start_run() as run:
        logged = log_clv(cfg, models, models, comparison, fitted)
    assert logged.alias == "champion"
    name = clv_model_name(cfg)
    parameters, version = load_clv_parameters(name)
    assert (parameters, version, parameters.spend_method) == (fitted, logged.model_version, method)
    logged_params = mlflow.get_run(run.info.run_id).data.params
    assert (logged_params["clv.gamma_gamma.method"], logged_params["clv.gamma_gamma.reason"]) == (
        method,
        models.spend.reason or "-",
    )
    assert MlflowClient().get_model_version(name, version).tags["clv.gamma_gamma.method"] == method
    rows = [
        (0, 0, 0, 0, None),
        (0, 0, 200, 0, None),
        (9, 150, 200, 9, 42.0),
        (9, 20, 200, 9, 42.0),
        (2, 90, 95, 0, None),
    ]
    summary = spark.createDataFrame(
        [(f"s{i}", *r) for i, r in enumerate(rows)],
        "subject_id string, frequency int, recency int, T int, monetary_periods int, monetary_value double",
    )
    columns = ["probability_alive", "expected_purchases", "expected_avg_value", "predicted_clv"]
    spark_rows = C.predict_clv(summary, parameters.bgnbd, parameters.spend, cfg.clv).orderBy("subject_id")
    expected = [[r[c] for c in columns] for r in spark_rows.collect()]
    frame = summary.orderBy("subject_id").select(*INPUT_COLUMNS).toPandas()  # 5 literal rows
    got = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(frame)[columns].to_numpy().tolist()
    for want, have in zip(expected, got, strict=True):
        assert have == pytest.approx(want, rel=1e-7)


# ---------------------------------------------------------------------------------------------------- the stage


def _as_declared(df, name: str, **values):
    """``df`` with the declared columns of silver ``name``: its own, then ``values``, else nulls."""
    from seglib.tables import table

    declared = table("silver", name).columns
    return df.select(
        *[
            (F.col(c.name) if c.name in df.columns else F.lit(values.get(c.name)))
            .cast(c.type.replace(" ", ""))
            .alias(c.name)
            for c in declared
        ]
    )


def test_clv_stage_validates_registers_scores_and_refuses_bad_fits(spark, simulated, tmp_path_factory):
    """The stage on the simulator's orders as silver (one subject without consent): the calibration fit is judged
    on the last 90 days, the refit registered and gated to champion, every consenting buyer scored; a refit that
    cannot be published is refused while the champion still scores."""
    import mlflow

    from seglib.config import load_config
    from seglib.delta_io import read_table, write_table
    from seglib.run_types import RunContext
    from seglib.stages import stage_clv
    from seglib.tables import Warehouse
    from seglib.tracking import setup_mlflow

    wh = Warehouse.of(load_config(["conf/local.yaml"], [f"warehouse.path={tmp_path_factory.mktemp('clv_stage')}"]))
    orders = simulated.withColumn("order_id", F.monotonically_increasing_id().cast("string"))
    write_table(_as_declared(orders, "orders", run_id="sim"), wh.spec("silver/orders"), mode="overwrite")
    subjects = orders.select("subject_id").distinct()
    consents = subjects.withColumn("analytics", F.col("subject_id") != F.lit("btyd-0000000"))  # one revoked
    write_table(_as_declared(consents, "consents"), wh.spec("silver/consents"), mode="overwrite")
    cfg = load_config(["conf/local.yaml"], [f"warehouse.path={wh.root}"])
    setup_mlflow(cfg)
    with mlflow.start_run():
        first = stage_clv(spark, cfg, RunContext.create(SIM_END, "clv1"))
        refused = stage_clv(spark, cfg.model_copy(update={"clv": ClvConfig(min_repeat_customers=10**6)}),
                            RunContext.create(SIM_END, "clv2"))  # fmt: skip
    assert (first.trained_version, first.alias, first.scored_version, first.refused) == ("1", "champion", "1", None)
    assert abs(first.holdout["relative_error"]) <= 0.25 and first.holdout["correlation"] >= 0.3, first.holdout
    assert "min_repeat_customers" in refused.refused and refused.trained_version is None
    assert refused.scored_version == "1"  # the champion still scores
    predictions = read_table(spark, wh.location("models/clv_predictions"))
    row = predictions.agg(
        F.count("*").alias("n"),
        F.countDistinct("subject_id").alias("subjects"),
        F.sum(F.when(F.col("subject_id") == "btyd-0000000", 1).otherwise(0)).alias("revoked"),
        F.min("probability_alive").alias("p_min"),
        F.max("probability_alive").alias("p_max"),
        F.min("predicted_clv").alias("clv_min"),
        F.sum(F.when(F.col("clv_bracket") == "top", 1).otherwise(0)).alias("top"),
        F.countDistinct("run_id").alias("runs"),
    ).first()
    buyers = C.btyd_summary(simulated, SIM_END, "week").where(F.col("subject_id") != "btyd-0000000").count()
    assert row.n == row.subjects == buyers == sum(first.bracket_sizes.values())
    assert (row.revoked, row.runs) == (0, 1)  # the second run replaced the snapshot
    assert 0 <= row.p_min <= row.p_max <= 1 and row.clv_min >= 0
    assert row.top == pytest.approx(0.1 * row.n, rel=0.05)  # the 0.9 quantile of predicted CLV
