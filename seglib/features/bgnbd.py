"""The BG/NBD core (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): the per-subject purchase
summary, the weighted maximum-likelihood fit on its aggregated table, and P(alive) and expected purchases as Spark
column expressions. Used by the BTYD features (``seglib.features.btyd``) and by the CLV stage's model, which adds
Gamma-Gamma spend, CLV, brackets and the holdout check: it sits below both, and imports nothing from the modeling
package.

Time layout, for a fit at cut-off ``c`` (00:00 UTC of a date; the scored snapshot's ``as_of``, the cut-off of a
feature build, or the calibration cut-off ``as_of - holdout_days`` of the CLV validation fit):
- the data are the completed orders strictly before ``c``; a subject enters with its first one (day ``d0``);
- periods are whole days (``period="day"``) or whole weeks counted from ``d0`` (``period="week"``: week ``k`` is
  days ``[d0 + 7k, d0 + 7k + 7)``). Every order falls in the period of its UTC day; several orders in one period are
  one purchase (the lifetimes convention), so the model counts *purchase periods*, and its rate parameter alpha is
  in periods;
- per subject: ``frequency`` x = purchase periods - 1 (repeat purchases), ``recency`` t_x = the last purchase
  period's index, ``T`` = whole periods from ``d0`` to ``c`` (``floor((c - d0) / period)``). All three are
  integers with ``x <= t_x <= T``, which bounds the aggregated likelihood table (:func:`summary_bound`);
- predictions run from ``T`` over a horizon (expected purchases; the CLV stage discounts them in about monthly
  steps); the CLV holdout counts the purchase periods in ``[c, c + holdout_days)``.
Whole periods floor the instants: a purchase at 3.6 weeks is at t = 3, and ``T`` floors the same way, so recency
and T stay on one grid. For a process that really runs in continuous time, weekly periods merge the purchases of one
week and shift the parameters (the rate is that of purchase *weeks*); daily periods recover continuous-time
parameters closely: on the simulator's weekly process with alpha = 4 weeks (tests/modeling/test_clv.py), weekly
periods fit alpha = 5.5 and daily ones 4.2 weeks, and each predicts its own purchase counts in a 26-week holdout
within 3%.

Value columns of the summary (for the CLV stage's spend model): ``net_amount`` of completed orders, summed per
period. Zero-value completed orders are purchases (they count in x, t_x, T: a transaction happened);
``monetary_value`` is the mean value of the repeat periods (first period excluded) whose value is positive,
``monetary_periods`` their number, ``monetary_ss`` the sum of squared deviations of those period values from their
mean.

What reaches the driver is bounded: the aggregated likelihood table (:func:`collect_bounded`, refused above the
caller's limit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal, overload

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from seglib.errors import ClvError
from seglib.features._time import as_of_epoch_day, before_cutoff, utc_epoch_day

PERIOD_DAYS = {"day": 1, "week": 7}
SERIES_TOL = 1e-9  # bound on the truncation error of expected purchases, in purchases (see series_plan)
MAX_SERIES_TERMS = 20_000
LOG_BOUND = math.log(1e6)  # optimiser bounds on log-parameters: parameters in [1e-6, 1e6]
BGNBD_PARAMS = ("r", "alpha", "a", "b")
SUMMARY_COLUMNS = (
    "subject_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "monetary_periods",
    "monetary_ss",
    "n_orders",
    "first_purchase_date",
)


# ---------------------------------------------------------------------------------------------------- summary


def period_days(period: str) -> int:
    """Days per period ("day": 1, "week": 7)."""
    try:
        return PERIOD_DAYS[period]
    except KeyError:
        raise ClvError(f"clv.period must be one of {sorted(PERIOD_DAYS)}, not {period!r}") from None


def _completed(orders: DataFrame) -> DataFrame:
    """subject_id, the UTC day index and net value of completed orders (value: net_amount, 0 when missing)."""
    return orders.where(F.col("status") == "completed").select(
        "subject_id",
        "order_ts",
        utc_epoch_day(F.col("order_ts")).cast("int").alias("_day"),
        F.coalesce(F.col("net_amount").cast("decimal(18,2)"), F.lit(0).cast("decimal(18,2)")).alias("_value"),
    )


def btyd_summary(orders: DataFrame, cutoff: date, period: str) -> DataFrame:
    """Per subject with at least one completed order strictly before the cut-off (see the module doc for the
    periods): subject_id, frequency, recency, T (ints), monetary_value (double, null without a positive repeat
    value), monetary_periods, monetary_ss (sum of the squared deviations of those positive repeat period values
    from monetary_value; null without one), n_orders (completed orders), first_purchase_date. Subjects first seen
    on or after the cut-off are absent. One shuffle by subject: the window, and both aggregations, are partitioned
    by it."""
    days = period_days(period)
    done = _completed(orders).where(before_cutoff(F.col("order_ts"), cutoff))
    first = F.min("_day").over(Window.partitionBy("subject_id"))
    periods = (
        done.withColumn("_first", first)
        .withColumn("_k", F.floor((F.col("_day") - F.col("_first")) / F.lit(days)).cast("int"))
        .groupBy("subject_id", "_first", "_k")
        .agg(F.sum("_value").alias("_period_value"), F.count("*").alias("_orders"))
    )
    # Decimal arithmetic, cast to double at the end: a double sum depends on the order the rows arrive in (a
    # subject's periods arrive in shuffle order, which follows the pseudonyms), and one differing last bit reordered
    # every model's training rows (seglib.modeling.row_order) under another key.
    repeat_value = F.when((F.col("_k") > 0) & (F.col("_period_value") > 0), F.col("_period_value"))
    n_repeat = F.count(repeat_value)
    return (
        periods.groupBy("subject_id", "_first")
        .agg(
            (F.count("*") - 1).cast("int").alias("frequency"),
            F.max("_k").cast("int").alias("recency"),
            F.avg(repeat_value).cast("double").alias("monetary_value"),
            n_repeat.cast("int").alias("monetary_periods"),
            (F.sum(repeat_value * repeat_value) - F.sum(repeat_value) * F.sum(repeat_value) / n_repeat)
            .cast("double")
            .alias("monetary_ss"),
            F.sum("_orders").alias("n_orders"),
        )
        .withColumn("T", F.floor((F.lit(as_of_epoch_day(cutoff)) - F.col("_first")) / F.lit(days)).cast("int"))
        .withColumn("first_purchase_date", F.date_add(F.lit(date(1970, 1, 1)), F.col("_first")))
        .select(*SUMMARY_COLUMNS)
    )


def history_periods(first_day: date, cutoff: date, period: str) -> int:
    """P: whole periods between the earliest possible first purchase and the cut-off (the largest T)."""
    return (cutoff - first_day).days // period_days(period)


def summary_bound(periods: int) -> int:
    """Most distinct (x, t_x, T) a history of ``periods`` whole periods can produce, whatever the number of
    subjects: x = 0 forces t_x = 0 (P + 1 triples), and 1 <= x <= t_x <= T <= P are C(P + 2, 3) = P(P+1)(P+2)/6.
    Weeks over three years (P = 156): 645,113; days over one year (P = 365): 8,171,621 (in practice far fewer occur:
    heavy buyers are rare, so x stays small)."""
    p = max(periods, 0)
    return (p + 1) + p * (p + 1) * (p + 2) // 6


def aggregate_summary(summary: DataFrame) -> DataFrame:
    """frequency, recency, T, weight (subjects): the BG/NBD likelihood depends on a subject only through (x, t_x, T),
    so identical triples are one weighted row. At most :func:`summary_bound` rows, independent of the subjects."""
    return summary.groupBy("frequency", "recency", "T").agg(F.count("*").alias("weight"))


def collect_bounded(aggregated: DataFrame, max_rows: int, what: str) -> pd.DataFrame:
    """The aggregated table on the driver (one job), or ClvError when it has more than ``max_rows`` rows. Collecting
    is fine here: the table is bounded by the history (or refused), never one row per subject."""
    out = aggregated.limit(max_rows + 1).toPandas()
    if len(out) > max_rows:
        raise ClvError(
            f"{what}: more than clv.max_summary_rows = {max_rows} distinct rows to fit on the driver; use "
            "clv.period: week (fewer distinct triples) or raise clv.max_summary_rows"
        )
    # Sorted: groups arrive in shuffle order, and the likelihood's floating-point sum (so the fitted parameters'
    # last bits, so every BTYD feature) must not depend on it.
    return out.sort_values(list(out.columns), kind="mergesort", ignore_index=True)


# ---------------------------------------------------------------------------------------------------- likelihoods


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-row BG/NBD log-likelihood (FHL 2005, eq. 6) of (r, alpha, a, b): ln A1 + ln A2 + ln(A3 + [x > 0] A4),
    the last term by log-sum-exp."""
    return _bgnbd(np.log(np.asarray(params, dtype=float)), x, t_x, T, grad=False)[0]


@overload
def _bgnbd(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, grad: Literal[True] = ...
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def _bgnbd(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, grad: Literal[False]
) -> tuple[np.ndarray, None]: ...
def _bgnbd(
    log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray, grad: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row log-likelihood and (``grad``) its gradient with respect to the log-parameters (rows x 4)."""
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    b_x1 = np.where(repeat, b + x - 1, 1.0)  # b + x - 1 > 0 when x >= 1; unused (masked) when x = 0
    ln_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    ln_a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    ln_a3 = -(r + x) * np.log(alpha + T)
    ln_a4 = np.where(repeat, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    ln_34 = np.logaddexp(ln_a3, ln_a4)
    ll = ln_a1 + ln_a2 + ln_34
    if not grad:
        return ll, None
    s3, s4 = np.exp(ln_a3 - ln_34), np.exp(ln_a4 - ln_34)  # shares of A3 and A4 in A3 + A4
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - s3 * np.log(alpha + T) - s4 * np.log(alpha + t_x)
    d_alpha = r / alpha - s3 * (r + x) / (alpha + T) - s4 * (r + x) / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x) + s4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - s4 / b_x1
    return ll, np.column_stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


# ---------------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float  # in periods (the summary's: clv.period, features.btyd.period)
    a: float
    b: float


@dataclass
class _Mle:
    log_likelihood: float  # total, weighted by the subjects of each aggregated row (no penalty)
    n_subjects: int
    n_rows: int  # aggregated rows the optimiser saw
    converged: bool
    iterations: int
    message: str
    at_bound: bool  # a parameter at the optimiser's bounds [1e-6, 1e6]: not a usable maximum
    std_errors: dict[str, float]  # from the inverse Hessian of the total log-likelihood (delta method); nan if singular


@dataclass
class BgNbdFit(_Mle):
    params: BgNbdParams

    @property
    def model(self) -> str:
        return "bgnbd"


def _maximise(
    loglik: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    start: np.ndarray,
    names: tuple[str, ...],
    penalizer: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, dict]:
    """Weighted ML on log-parameters with L-BFGS-B and analytic gradients: the objective is the weighted mean
    negative log-likelihood (scale-free, so ``tol`` means the same for any population) plus ``penalizer`` times the
    sum of squared parameters (lifetimes' penalizer_coef)."""
    total = float(weights.sum())

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(all="ignore"):
            ll, grad = loglik(log_params)
        params = np.exp(log_params)
        value = -float(weights @ ll) / total + penalizer * float(params @ params)
        gradient = -(weights @ grad) / total + 2 * penalizer * params * params
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return math.inf, np.zeros_like(log_params)  # L-BFGS-B backtracks from a non-finite point
        return value, gradient

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    result = minimize(
        objective,
        np.clip(start, -LOG_BOUND + 1, LOG_BOUND - 1),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-9},
    )
    log_params = result.x
    with np.errstate(all="ignore"):
        ll, _ = loglik(log_params)
    std_errors = _std_errors(loglik, weights, log_params, names)
    info = {
        "log_likelihood": float(weights @ ll),
        "n_subjects": int(total),
        "n_rows": len(weights),
        "converged": bool(result.success),
        "iterations": int(result.nit),
        "message": str(result.message),
        "at_bound": bool(np.any(np.abs(np.abs(log_params) - LOG_BOUND) < 1e-4)),
        "std_errors": std_errors,
    }
    return np.exp(log_params), info


def _std_errors(
    loglik: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    weights: np.ndarray,
    log_params: np.ndarray,
    names: tuple[str, ...],
) -> dict[str, float]:
    """Standard errors of the parameters: the Hessian of the total log-likelihood in log-parameters by central
    differences of the analytic gradient, inverted, mapped by the delta method (se(theta) = theta se(log theta))."""
    k, h = len(log_params), 1e-5
    hessian = np.empty((k, k))
    with np.errstate(all="ignore"):
        for j in range(k):
            step = np.zeros(k)
            step[j] = h
            hessian[:, j] = -(weights @ loglik(log_params + step)[1] - weights @ loglik(log_params - step)[1]) / (2 * h)
    try:
        cov = np.linalg.inv((hessian + hessian.T) / 2)
        se_log = np.sqrt(np.where(np.diag(cov) > 0, np.diag(cov), np.nan))
    except np.linalg.LinAlgError:
        se_log = np.full(k, np.nan)
    return {n: float(v) for n, v in zip(names, np.exp(log_params) * se_log, strict=True)}


def _weights(agg: pd.DataFrame) -> np.ndarray:
    return agg["weight"].to_numpy(dtype=float) if "weight" in agg.columns else np.ones(len(agg))


def fit_bgnbd(
    agg: pd.DataFrame,
    penalizer: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-10,
    start: BgNbdParams | None = None,
) -> BgNbdFit:
    """Weighted ML of BG/NBD on ``agg`` (frequency, recency, T and optional weight: the aggregated table, or one row
    per subject). Start: r = 1, alpha = the mean T per repeat purchase (so r / alpha is the pooled purchase rate),
    a = 1, b = 3 (dropout probability 0.25)."""
    x, t_x, T = (agg[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    w = _weights(agg)
    if start is None:
        alpha0 = float(w @ T) / max(float(w @ x), 1.0)
        start = BgNbdParams(1.0, max(alpha0, 1e-3), 1.0, 3.0)
    params, info = _maximise(
        lambda lp: _bgnbd(lp, x, t_x, T),
        w,
        np.log([start.r, start.alpha, start.a, start.b]),
        BGNBD_PARAMS,
        penalizer,
        max_iter,
        tol,
    )
    return BgNbdFit(**info, params=BgNbdParams(*map(float, params)))


# ---------------------------------------------------------------------------------------------------- predictions

ColumnOrName = Column | str


def _col(c: ColumnOrName | float) -> Column:
    if isinstance(c, Column):
        return c
    return F.col(c) if isinstance(c, str) else F.lit(float(c))


def probability_alive(
    bg: BgNbdParams, x: ColumnOrName = "frequency", t_x: ColumnOrName = "recency", T: ColumnOrName = "T"
) -> Column:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)); 1 for x = 0
    (no repeat purchase, no chance yet to drop out). The odds in logs: the power overflows for heavy buyers."""
    x, t_x, T = _col(x).cast("double"), _col(t_x).cast("double"), _col(T).cast("double")
    log_odds = (
        F.lit(math.log(bg.a))
        - F.log(F.lit(bg.b) + x - 1)
        + (F.lit(bg.r) + x) * (F.log(F.lit(bg.alpha) + T) - F.log(F.lit(bg.alpha) + t_x))
    )
    # the odds of a long-gone heavy buyer pass e^700 (and double's range soon after): capped, P is 1e-304, in effect 0
    return F.when(x <= 0, F.lit(1.0)).otherwise(F.lit(1.0) / (F.lit(1.0) + F.exp(F.least(log_odds, F.lit(700.0)))))


def _series(first: Column, ratio: Callable[[Column], Column], terms: int | Column) -> Column:
    """sum_{n=0}^{terms-1} u_n with u_0 = ``first`` and u_{n+1} = u_n ratio(n), as one higher-order-function
    expression per row (Spark's ``aggregate``: built in, no UDF; the plan stays small for any number of terms).
    ``terms``: a number, or a per-row int column (at least 1)."""
    init = F.struct(first.cast("double").alias("u"), F.lit(0.0).alias("s"))
    count = terms if isinstance(terms, Column) else F.lit(terms)
    return F.aggregate(
        F.sequence(F.lit(0), count - 1),
        init,
        lambda acc, n: F.struct((acc["u"] * ratio(n.cast("double"))).alias("u"), (acc["s"] + acc["u"]).alias("s")),
        lambda acc: acc["s"],
    )


def hyp2f1_series(
    a: ColumnOrName | float, b: ColumnOrName | float, c: ColumnOrName | float, z: ColumnOrName | float, terms: int
) -> Column:
    """Gauss's 2F1(a, b; c; z) truncated to ``terms`` terms of its power series (|z| < 1): Spark has no hyp2f1.
    :func:`expected_purchases` uses a transformed series that converges faster; this one is the plain definition."""
    a, b, c, z = _col(a), _col(b), _col(c), _col(z)
    return _series(F.lit(1.0), lambda n: (a + n) * (b + n) / ((c + n) * (n + 1)) * z, terms)


def _max_z(bg: BgNbdParams, horizon_periods: float) -> float:
    """The largest series argument z = t / (alpha + T + t): T = 0 (which forces x = 0)."""
    return horizon_periods / (bg.alpha + horizon_periods)


@dataclass(frozen=True)
class SeriesPlan:
    """How many terms of S (see :func:`expected_purchases`) each row sums: ``terms`` bounds every row; a row with
    argument z needs only ``ceil((log(tol (1 - rho) / rho) - log_g - log_scale) / log z)``, rho = z ``ratio_factor``
    (at least ``first``)."""

    terms: int
    first: int  # the tail bound needs A' + N >= 0
    log_g: float  # log max_n g_n, g_n = |(a + b + x - 1) s_n| / z^n at x = 0 (it decreases with x)
    log_scale: float  # log max(1, (1 - z_max)^(a - 1))
    ratio_factor: float  # max(1, a / 2) >= (a - 1 + n) / (n + 1) for n >= 1
    tol: float


def series_plan(bg: BgNbdParams, horizon_periods: float, tol: float = SERIES_TOL) -> SeriesPlan:
    """Terms of the series in :func:`expected_purchases` that bound its truncation error by ``tol`` purchases for
    every subject, for horizons up to ``horizon_periods``.

    With A' = a + b - 1 - r and C' = a + b + x - 1 the terms are s_n = (A')_n (a)_{n-1} z^n / ((C')_n n!), n >= 1.
    For n >= N >= max(1, -A') the ratio s_{n+1} / s_n = z (A' + n)(a - 1 + n) / ((C' + n)(n + 1)) is at most
    rho = z max(1, (a - 1 + N) / (N + 1)) (C' - A' = r + x > 0), so the tail after N terms is at most
    |s_N| rho / (1 - rho). In expected purchases it is multiplied by (a + b + x - 1) (1 - z)^(a - 1) P(alive); the
    product (a + b + x - 1) |s_N| = |(A')_N| (a)_{N-1} z^N / ((C' + 1)_{N-1} N!) = g_N z^N decreases with x, and
    everything grows with z, whose maximum is at T = 0 (x = 0). So the bound at x = 0, z = t / (alpha + t) holds
    for all rows (``terms``), and a row's own z with the largest g gives its own, smaller, count."""
    if horizon_periods <= 0:  # nothing to sum: E[Y(0)] = 0
        return SeriesPlan(2, 1, 0.0, 0.0, 1.0, tol)
    z = _max_z(bg, horizon_periods)
    a_ = bg.a + bg.b - 1 - bg.r
    c1 = bg.a + bg.b  # C' + 1 at x = 0
    log_scale = max(0.0, (bg.a - 1) * math.log1p(-z))
    first = max(1, math.ceil(-a_))
    log_g = math.log(abs(a_) + 1e-300)  # g_1 = |A'|
    log_g_max = log_g
    for n in range(1, MAX_SERIES_TERMS):
        rho = z * max(1.0, (bg.a - 1 + n) / (n + 1))
        if n >= first and rho < 1 and log_scale + log_g + n * math.log(z) + math.log(rho / (1 - rho)) <= math.log(tol):
            # a row never sums more than these n terms, so log_g_max bounds its g_N; terms: the n terms of S plus
            # the leading slot of _series
            return SeriesPlan(n + 1, first, log_g_max, log_scale, max(1.0, bg.a / 2), tol)
        log_g += math.log(abs(a_ + n) + 1e-300) + math.log(bg.a - 1 + n) - math.log(c1 + n - 1) - math.log(n + 1)
        log_g_max = max(log_g_max, log_g)
    raise ClvError(
        f"expected purchases over {horizon_periods:g} periods need more than {MAX_SERIES_TERMS} series terms "
        f"(alpha = {bg.alpha:.4g} periods is short against the horizon): use a coarser clv.period or a shorter "
        "clv.horizon_days"
    )


def series_terms(bg: BgNbdParams, horizon_periods: float, tol: float = SERIES_TOL) -> int:
    """The number of series terms that bounds the truncation error of every row by ``tol`` (:func:`series_plan`)."""
    return series_plan(bg, horizon_periods, tol).terms


def _row_terms(plan: SeriesPlan, z: Column) -> Column:
    """Terms a row with argument ``z`` needs (see :class:`SeriesPlan`), within [first, plan.terms - 1] S-terms."""
    rho = z * F.lit(plan.ratio_factor)
    needed = F.ceil((F.lit(math.log(plan.tol) - plan.log_g - plan.log_scale) + F.log1p(-rho) - F.log(rho)) / F.log(z))
    bounded = F.least(F.greatest(needed, F.lit(plan.first)), F.lit(plan.terms - 1))
    return F.when(rho < 1, bounded).otherwise(F.lit(plan.terms - 1)).cast("int")


def expected_purchases(
    bg: BgNbdParams,
    horizon_periods: float,
    plan: SeriesPlan | None = None,
    x: ColumnOrName = "frequency",
    t_x: ColumnOrName = "recency",
    T: ColumnOrName = "T",
    terms: int | None = None,
) -> Column:
    """E[Y(t) | x, t_x, T]: expected purchase periods in the ``horizon_periods`` after T (FHL 2005, eq. 10):

        (a + b + x - 1) / (a - 1) [1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x; a + b + x - 1; z)]
        x P(alive),  z = t / (alpha + T + t).

    Euler's transformation 2F1(A, B; C; z) = (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) turns the bracket into
    1 - (1 - z)^(a - 1) 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z), whose series has no hump for heavy buyers (the
    original's terms grow ~ (x z)^n / n! before they fall, and its value overflows for large x) and whose first
    parameter a - 1 factors out: with S = sum_{n>=1} (a + b - 1 - r)_n (a)_{n-1} z^n / ((a + b + x - 1)_n n!),
    the bracket / (a - 1) is [1 - (1 - z)^(a - 1)] / (a - 1) - (1 - z)^(a - 1) S (expm1/log1p; -log(1 - z) at
    a = 1), with no cancellation as a -> 1. ``plan``: from :func:`series_plan` for this horizon or a longer one
    (truncation error <= 1e-9 purchases per row); ``terms``: a fixed number of terms instead (tests)."""
    plan = series_plan(bg, horizon_periods) if plan is None else plan
    x, t_x, T = _col(x).cast("double"), _col(t_x).cast("double"), _col(T).cast("double")
    t = F.lit(float(horizon_periods))
    z = t / (F.lit(bg.alpha) + T + t)
    a1 = bg.a - 1
    a_ = F.lit(bg.a + bg.b - 1 - bg.r)
    c_ = F.lit(bg.a + bg.b - 1) + x
    log_1mz = F.log1p(-z)
    lead = -F.expm1(F.lit(a1) * log_1mz) / F.lit(a1) if abs(a1) > 1e-12 else -log_1mz
    # S's term n + 1 from term n (n >= 1); _series indexes from 0, so its index k is n - 1
    s = _series(
        a_ * z / c_,
        lambda k: (a_ + k + 1) * (F.lit(bg.a) + k) * z / ((c_ + k + 1) * (k + 2)),
        max(terms - 1, 1) if terms is not None else _row_terms(plan, z),
    )
    bracket = lead - F.exp(F.lit(a1) * log_1mz) * s
    return F.when(F.lit(horizon_periods) <= 0, F.lit(0.0)).otherwise(
        (F.lit(bg.a + bg.b - 1) + x) * bracket * probability_alive(bg, x, t_x, T)
    )


__all__ = [
    "BGNBD_PARAMS",
    "LOG_BOUND",
    "MAX_SERIES_TERMS",
    "PERIOD_DAYS",
    "SERIES_TOL",
    "SUMMARY_COLUMNS",
    "BgNbdFit",
    "BgNbdParams",
    "ColumnOrName",
    "SeriesPlan",
    "aggregate_summary",
    "bgnbd_log_likelihood",
    "btyd_summary",
    "collect_bounded",
    "expected_purchases",
    "fit_bgnbd",
    "history_periods",
    "hyp2f1_series",
    "period_days",
    "probability_alive",
    "series_plan",
    "series_terms",
    "summary_bound",
]
