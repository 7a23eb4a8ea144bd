"""Predicted customer lifetime value: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") for
how many purchases a subject will make, Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
curves") for what they will be worth, fitted by weighted maximum likelihood on aggregated summaries.

Time layout, for a fit at cut-off ``c`` (00:00 UTC of a date; the scored snapshot's ``as_of``, or the calibration
cut-off ``as_of - holdout_days`` of the validation fit):
- the data are the completed orders strictly before ``c``; a subject enters with its first one (day ``d0``);
- periods are whole days (``period="day"``) or whole weeks counted from ``d0`` (``period="week"``: week ``k`` is
  days ``[d0 + 7k, d0 + 7k + 7)``). Every order falls in the period of its UTC day; several orders in one period are
  one purchase (the lifetimes convention), so the model counts *purchase periods*, and its rate parameter alpha is
  in periods;
- per subject: ``frequency`` x = purchase periods - 1 (repeat purchases), ``recency`` t_x = the last purchase
  period's index, ``T`` = whole periods from ``d0`` to ``c`` (``floor((c - d0) / period)``). All three are
  integers with ``x <= t_x <= T``, which bounds the aggregated likelihood table (:func:`summary_bound`);
- predictions run from ``T`` over ``horizon_days`` (expected purchases, CLV discounted in about monthly steps); the
  holdout counts the purchase periods in ``[c, c + holdout_days)``.
Whole periods floor the instants: a purchase at 3.6 weeks is at t = 3, and ``T`` floors the same way, so recency
and T stay on one grid. For a process that really runs in continuous time, weekly periods merge the purchases of one
week and shift the parameters (the rate is that of purchase *weeks*); daily periods recover continuous-time
parameters closely: on the simulator's weekly process with alpha = 4 weeks (tests/modeling/test_clv.py), weekly
periods fit alpha = 5.5 and daily ones 4.2 weeks, and each predicts its own purchase counts in a 26-week holdout
within 3%.

Value: ``net_amount`` of completed orders, summed per period. Zero-value completed orders are purchases (they count
in x, t_x, T: a transaction happened), but Gamma-Gamma needs positive values: ``monetary_value`` is the mean value
of the repeat periods (first period excluded) whose value is positive, ``monetary_periods`` their number, and the
Gamma-Gamma fit uses (``monetary_periods``, ``monetary_value``) of the subjects that have one. A subject without a
positive repeat value gets the population mean spend. ``monetary_ss`` (the sum of squared deviations of those
period values from their mean) feeds the within-subject variance of the fallback below.

Spend when Gamma-Gamma is degenerate (:func:`fit_spend`): the value model is then a credibility estimate
(Buhlmann-Straub, the distribution-free empirical-Bayes form of the same posterior mean), flagged ``shrunk_mean``
with its reason, instead of refusing CLV; BG/NBD is unchanged and still refused when degenerate.

Everything that reaches the driver is bounded: the aggregated likelihood tables (refused above
``clv.max_summary_rows``), quantile thresholds, the holdout table by frequency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from seglib.config.clv import ClvConfig
from seglib.errors import SeglibError
from seglib.features._time import as_of_epoch_day, before_cutoff, cutoff_ts, utc_epoch_day
from seglib.modeling.propensity import tier_of

log = logging.getLogger(__name__)

PERIOD_DAYS = {"day": 1, "week": 7}
DAYS_PER_YEAR = 365.0
CLV_STEP_DAYS = 30  # discounting steps of at most this many days (about monthly; see predict_clv)
SERIES_TOL = 1e-9  # bound on the truncation error of expected purchases, in purchases (see series_plan)
MAX_SERIES_TERMS = 20_000
LOG_BOUND = math.log(1e6)  # optimiser bounds on log-parameters: parameters in [1e-6, 1e6]
BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
SPEND_METHODS = ("mle", "shrunk_mean")  # how expected_avg_value is estimated (see fit_spend)
SHRINKAGE_CAP = 1e9  # k without heterogeneity: a credibility weight x / (x + k) below 1e-9 per period, in effect 0
MIN_SPEND_HETEROGENEITY = 1e-3  # between-subject sd of the mean spend / the mean below this: "no heterogeneity"
FREQUENCY_BUCKETS = 8  # holdout table: calibration frequency 0 .. 7 and "8+"
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


class ClvError(SeglibError):
    """The CLV models cannot be fitted or published as configured (too much or too little data, a degenerate fit)."""


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
    repeat_value = F.when((F.col("_k") > 0) & (F.col("_period_value") > 0), F.col("_period_value").cast("double"))
    return (
        periods.groupBy("subject_id", "_first")
        .agg(
            (F.count("*") - 1).cast("int").alias("frequency"),
            F.max("_k").cast("int").alias("recency"),
            F.avg(repeat_value).alias("monetary_value"),
            F.count(repeat_value).cast("int").alias("monetary_periods"),
            (F.var_pop(repeat_value) * F.count(repeat_value)).alias("monetary_ss"),
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


def aggregate_monetary(summary: DataFrame) -> DataFrame:
    """frequency (the positive repeat periods), monetary_value, weight, ss (their summed monetary_ss) over the
    subjects with a positive repeat value: the Gamma-Gamma likelihood depends on exactly (x, m), so only identical
    pairs merge (ss only feeds the fallback's within-subject variance, :func:`spend_moments`). Not bounded by the
    history like :func:`aggregate_summary`: at most the number of such subjects (amounts in cents and small x make
    repeats common); the fit refuses more than ``clv.max_summary_rows`` rows."""
    return (
        summary.where(F.col("monetary_periods") > 0)
        .groupBy(F.col("monetary_periods").alias("frequency"), "monetary_value")
        .agg(F.count("*").alias("weight"), F.sum(F.coalesce("monetary_ss", F.lit(0.0))).alias("ss"))
    )


def collect_bounded(aggregated: DataFrame, max_rows: int, what: str) -> pd.DataFrame:
    """The aggregated table on the driver (one job), or ClvError when it has more than ``max_rows`` rows. Collecting
    is fine here: the table is bounded by the history (or refused), never one row per subject."""
    out = aggregated.limit(max_rows + 1).toPandas()
    if len(out) > max_rows:
        raise ClvError(
            f"{what}: more than clv.max_summary_rows = {max_rows} distinct rows to fit on the driver; use "
            "clv.period: week (fewer distinct triples) or raise clv.max_summary_rows"
        )
    return out


# ---------------------------------------------------------------------------------------------------- likelihoods


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-row BG/NBD log-likelihood (FHL 2005, eq. 6) of (r, alpha, a, b): ln A1 + ln A2 + ln(A3 + [x > 0] A4),
    the last term by log-sum-exp."""
    return _bgnbd(np.log(np.asarray(params, dtype=float)), x, t_x, T, grad=False)[0]


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


def gamma_gamma_log_likelihood(params: tuple[float, float, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-row Gamma-Gamma log-likelihood of (p, q, v) for x > 0 values with mean m: the density of the mean of x
    Gamma(p, nu) spends, nu ~ Gamma(q, v) integrated out."""
    return _gamma_gamma(np.log(np.asarray(params, dtype=float)), x, m, grad=False)[0]


def _gamma_gamma(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, grad: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    p, q, v = np.exp(log_params)
    px = p * x
    ln_xm_v = np.log(x * m + v)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * ln_xm_v
    )
    if not grad:
        return ll, None
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - ln_xm_v)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - ln_xm_v
    d_v = q / v - (px + q) / (x * m + v)
    return ll, np.column_stack([d_p * p, d_q * q, d_v * v])


# ---------------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float  # in periods (clv.period)
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float

    @property
    def population_mean(self) -> float:
        """E[spend per purchase] = p v / (q - 1); infinite for q <= 1."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else math.inf

    @property
    def shrinkage(self) -> float:
        """k = (q - 1) / p: the posterior mean is (k mu + x m) / (k + x), like :class:`ShrunkMeanParams`."""
        return (self.q - 1) / self.p


@dataclass(frozen=True)
class ShrunkMeanParams:
    """The credibility estimate of spend per purchase (see :func:`fit_spend`): E[spend | x, m] = mu + x / (x + k)
    (m - mu) for a subject with x positive repeat periods of mean m; mu for a subject without one."""

    population_mean: float  # mu
    shrinkage: float  # k = within-subject variance / between-subject variance, in positive repeat periods


SpendParams = GammaGammaParams | ShrunkMeanParams


def spend_method(params: SpendParams) -> str:
    """``mle`` (Gamma-Gamma) or ``shrunk_mean`` (the credibility fallback)."""
    return "shrunk_mean" if isinstance(params, ShrunkMeanParams) else "mle"


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


@dataclass
class GammaGammaFit(_Mle):
    params: GammaGammaParams

    @property
    def model(self) -> str:
        return "gamma_gamma"


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


def fit_gamma_gamma(
    agg: pd.DataFrame,
    penalizer: float = 0.0,
    max_iter: int = 1000,
    tol: float = 1e-10,
    start: GammaGammaParams | None = None,
) -> GammaGammaFit:
    """Weighted ML of Gamma-Gamma on ``agg`` (frequency = positive repeat periods, monetary_value, optional weight);
    rows without a positive value are ignored. Start: p = 1, q = 2, v = the mean value (population mean = v)."""
    agg = agg[(agg["frequency"] > 0) & (agg["monetary_value"] > 0)]
    x, m = agg["frequency"].to_numpy(dtype=float), agg["monetary_value"].to_numpy(dtype=float)
    w = _weights(agg)
    if start is None:
        start = GammaGammaParams(1.0, 2.0, float(w @ m) / max(float(w.sum()), 1.0) or 1.0)
    params, info = _maximise(
        lambda lp: _gamma_gamma(lp, x, m),
        w,
        np.log([start.p, start.q, start.v]),
        GAMMA_GAMMA_PARAMS,
        penalizer,
        max_iter,
        tol,
    )
    return GammaGammaFit(**info, params=GammaGammaParams(*map(float, params)))


def fit_problems(fit: BgNbdFit | GammaGammaFit) -> list[str]:
    """Why a fit is not an interior maximum: not converged, a parameter at the optimiser's bounds, (Gamma-Gamma)
    q <= 1 (the mean spend p v / (q - 1) is finite only for q > 1); empty when publishable."""
    problems = []
    if not fit.converged:
        problems.append(f"the optimiser did not converge ({fit.message}, {fit.iterations} iterations)")
    if fit.at_bound:
        problems.append("a parameter is at the optimiser's bounds [1e-6, 1e6]")
    if isinstance(fit, GammaGammaFit) and fit.params.q <= 1:
        problems.append("q <= 1 (infinite mean spend)")
    return problems


def check_publishable(fit: BgNbdFit | GammaGammaFit) -> None:
    """ClvError unless :func:`fit_problems` finds none."""
    params = asdict(fit.params)
    problems = fit_problems(fit)
    if problems:
        raise ClvError(
            f"{fit.model} fit on {fit.n_subjects} subjects is not publishable: {'; '.join(problems)}; params {params}, "
            f"log-likelihood {fit.log_likelihood:.3f}. Raise clv.penalizer or check the orders."
        )


@dataclass(frozen=True)
class SpendMoments:
    """Buhlmann-Straub moments of the positive repeat period values (weights: each subject's x positive repeat
    periods), computed from the aggregated (x, m, ss) table; nan where not estimable."""

    subjects: int  # N: subjects with a positive repeat value
    periods: float  # X = sum x
    mean: float  # sum x m / X: the mean positive repeat period value
    within_variance: float  # s2 = sum ss / sum (x - 1): nan without a subject with 2+ positive repeat periods
    between_variance: float  # t2 = (sum x (m - mean)^2 - (N - 1) s2) / (X - sum x^2 / X): may be <= 0; nan if N < 2
    heterogeneity: float  # sqrt(max(t2, 0)) / mean (s2 taken as 0 when nan: an upper bound); nan if N < 2


def spend_moments(money: pd.DataFrame) -> SpendMoments:
    """:class:`SpendMoments` of an :func:`aggregate_monetary` table (frequency, monetary_value, weight, ss; ss
    missing: the within-subject variance is not estimable)."""
    money = money[(money["frequency"] > 0) & (money["monetary_value"] > 0)]
    w, x = _weights(money), money["frequency"].to_numpy(dtype=float)
    m = money["monetary_value"].to_numpy(dtype=float)
    n, big_x = float(w.sum()), float(w @ x)
    mean = float(w @ (x * m)) / big_x if big_x > 0 else math.nan
    dof = float(w @ (x - 1))
    ss = float(money["ss"].fillna(0).sum()) if "ss" in money.columns else math.nan
    within = ss / dof if dof > 0 and math.isfinite(ss) else math.nan
    denominator = big_x - float(w @ (x * x)) / big_x if big_x > 0 else 0.0
    if n < 2 or denominator <= 0:
        return SpendMoments(int(n), big_x, mean, within, math.nan, math.nan)
    spread = float(w @ (x * (m - mean) ** 2))
    between = (spread - (n - 1) * within) / denominator if math.isfinite(within) else math.nan
    upper = between if math.isfinite(between) else spread / denominator
    return SpendMoments(int(n), big_x, mean, within, between, math.sqrt(max(upper, 0.0)) / mean)


def spend_without_heterogeneity(moments: SpendMoments) -> bool:
    """No between-subject spend heterogeneity: the subjects' mean spends are (nearly) identical (relative sd below
    MIN_SPEND_HETEROGENEITY) or vary no more than their within-subject variance explains (between variance <= 0)."""
    return moments.heterogeneity < MIN_SPEND_HETEROGENEITY or moments.between_variance <= 0


def shrunk_mean(money: pd.DataFrame, moments: SpendMoments, default_shrinkage: float) -> ShrunkMeanParams:
    """Buhlmann-Straub credibility: k = s2 / t2 (:class:`SpendMoments`); ``SHRINKAGE_CAP`` (the population mean
    for everyone) without heterogeneity; ``default_shrinkage`` when s2 or t2 is not estimable (no subject with 2+
    positive repeat periods, or one subject). mu = sum Z m / sum Z, Z = x / (x + k): the credibility-weighted mean,
    a per-subject mean like Gamma-Gamma's p v / (q - 1) (the mean of all periods as k -> inf)."""
    if spend_without_heterogeneity(moments):
        k = SHRINKAGE_CAP
    elif math.isfinite(moments.within_variance) and math.isfinite(moments.between_variance):
        k = min(moments.within_variance / moments.between_variance, SHRINKAGE_CAP)
    else:
        k = default_shrinkage
    money = money[(money["frequency"] > 0) & (money["monetary_value"] > 0)]
    w, x = _weights(money), money["frequency"].to_numpy(dtype=float)
    z = w * x / (x + k)
    return ShrunkMeanParams(float(z @ money["monetary_value"].to_numpy(dtype=float)) / float(z.sum()), float(k))


@dataclass(frozen=True)
class SpendModel:
    """The value model that scores: Gamma-Gamma by ML (``mle``) or the credibility fallback (``shrunk_mean``), why
    (one line), the Gamma-Gamma fit if one was attempted, and the moments."""

    method: str  # one of SPEND_METHODS
    reason: str
    params: SpendParams
    gamma_gamma: GammaGammaFit | None
    moments: SpendMoments


def fit_spend(money: pd.DataFrame, cfg: ClvConfig) -> SpendModel:
    """Gamma-Gamma by ML on the :func:`aggregate_monetary` table, or, when it is degenerate, the credibility
    estimate of :func:`shrunk_mean` (flagged ``shrunk_mean`` with the reason), in this order:

    1. fewer than ``clv.min_repeat_customers`` subjects with a positive repeat value: too few to fit (not tried);
    2. no spend heterogeneity (:func:`spend_without_heterogeneity`): the likelihood rises without bound along
       q, v -> inf (the optimiser stops anywhere on that ridge), so the ML estimate is not identified (not tried);
    3. the ML fit has :func:`fit_problems` (not converged, a parameter at a bound, q <= 1).

    Why this fallback, and no penalised Gamma-Gamma: Gamma-Gamma's E[spend | x, m] is (k mu + x m) / (k + x) with
    mu = p v / (q - 1), k = (q - 1) / p, and its moments give exactly k = E[Var(spend | nu)] / Var(E[spend | nu]).
    The credibility estimate keeps that form and estimates mu and k from the moments alone (no distribution), so
    where the likelihood has no interior maximum the constants still come from the data, where a penalised fit's
    optimum would be set by the penalty's centre and strength. ClvError without any positive repeat value."""
    moments = spend_moments(money)
    if moments.subjects == 0:
        raise ClvError("no subject has a positive repeat value: nothing to value purchases with")
    fit = None
    if moments.subjects < cfg.min_repeat_customers:
        reason = f"{moments.subjects} subjects with a positive repeat value < clv.min_repeat_customers = "
        reason += str(cfg.min_repeat_customers)
    elif spend_without_heterogeneity(moments):
        reason = f"no spend heterogeneity between subjects (relative sd {moments.heterogeneity:.3g}, between "
        reason += f"variance {moments.between_variance:.4g})"
    else:
        fit = fit_gamma_gamma(money, cfg.penalizer, cfg.max_iter, cfg.tol)
        problems = fit_problems(fit)
        if not problems:
            return SpendModel("mle", "", fit.params, fit, moments)
        reason = f"Gamma-Gamma: {'; '.join(problems)} ({_rounded(asdict(fit.params))})"
    params = shrunk_mean(money, moments, cfg.spend_shrinkage_default)
    log.warning("clv spend: shrunk_mean (mu %.4g, k %.4g) instead of Gamma-Gamma: %s", params.population_mean,
                params.shrinkage, reason)  # fmt: skip
    return SpendModel("shrunk_mean", reason, params, fit, moments)


def _rounded(params: Mapping[str, float]) -> str:
    return ", ".join(f"{k} = {v:.4g}" for k, v in params.items())


@dataclass
class ClvModels:
    bgnbd: BgNbdFit
    spend: SpendModel
    summary_rows: int  # aggregated BG/NBD rows
    monetary_rows: int  # aggregated Gamma-Gamma rows

    @property
    def gamma_gamma(self) -> GammaGammaFit | None:
        """The Gamma-Gamma fit if one was attempted (published only when ``spend.method`` is ``mle``)."""
        return self.spend.gamma_gamma

    def flat(self, prefix: str = "clv.") -> dict[str, float]:
        """Params, log-likelihoods and sizes as MLflow metrics: BG/NBD, the Gamma-Gamma fit if attempted (also when
        rejected: ``spend.method`` says which one scores), the scoring spend model's mu and k, the moments."""
        out: dict[str, float] = {}
        for fit in (self.bgnbd, self.gamma_gamma):
            if fit is None:
                continue
            out.update({f"{prefix}{fit.model}.{k}": float(v) for k, v in asdict(fit.params).items()})
            out.update({f"{prefix}{fit.model}.se_{k}": float(v) for k, v in fit.std_errors.items()})
            out[f"{prefix}{fit.model}.log_likelihood"] = fit.log_likelihood
            out[f"{prefix}{fit.model}.n_subjects"] = float(fit.n_subjects)
            out[f"{prefix}{fit.model}.iterations"] = float(fit.iterations)
        out[f"{prefix}spend.population_mean"] = float(self.spend.params.population_mean)
        out[f"{prefix}spend.shrinkage"] = float(self.spend.params.shrinkage)
        out[f"{prefix}spend.shrunk_mean"] = float(self.spend.method == "shrunk_mean")
        out.update({f"{prefix}spend.moments.{k}": float(v) for k, v in asdict(self.spend.moments).items()})
        out[f"{prefix}summary_rows"] = float(self.summary_rows)
        out[f"{prefix}monetary_rows"] = float(self.monetary_rows)
        return out


def fit_models(summary: DataFrame, cfg: ClvConfig, publishable: bool = True) -> ClvModels:
    """BG/NBD and the spend model (:func:`fit_spend`) on a :func:`btyd_summary` (two jobs: the aggregated tables;
    persist the summary, both read it). ClvError with fewer than ``clv.min_repeat_customers`` repeat subjects or no
    positive repeat value, above ``clv.max_summary_rows``, or (``publishable``) when the BG/NBD fit is not
    :func:`check_publishable`. A degenerate Gamma-Gamma is not an error: the spend model falls back, flagged."""
    agg = collect_bounded(aggregate_summary(summary), cfg.max_summary_rows, "BG/NBD summary (x, t_x, T)")
    money = collect_bounded(aggregate_monetary(summary), cfg.max_summary_rows, "Gamma-Gamma summary (x, m)")
    repeaters = int(agg.loc[agg["frequency"] > 0, "weight"].sum())
    if repeaters < cfg.min_repeat_customers:
        raise ClvError(
            f"{repeaters} subjects with a repeat purchase; clv.min_repeat_customers is {cfg.min_repeat_customers}"
        )
    bgnbd = fit_bgnbd(agg, cfg.penalizer, cfg.max_iter, cfg.tol)
    models = ClvModels(bgnbd, fit_spend(money, cfg), len(agg), len(money))
    for fit in (models.bgnbd, models.gamma_gamma):
        if fit is not None:
            log.info("clv %s: %s, log-likelihood %.2f on %d subjects (%d rows), converged %s in %d iterations",
                     fit.model, asdict(fit.params), fit.log_likelihood, fit.n_subjects, fit.n_rows, fit.converged,
                     fit.iterations)  # fmt: skip
    if publishable:
        check_publishable(models.bgnbd)
    return models


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


def expected_average_value(
    gg: SpendParams, x: ColumnOrName = "monetary_periods", m: ColumnOrName = "monetary_value"
) -> Column:
    """E[spend per purchase | x, m] = p (v + x m) / (p x + q - 1) (Gamma-Gamma: the population mean p v / (q - 1)
    shrunk toward the subject's mean m), or mu + x / (x + k) (m - mu) (:class:`ShrunkMeanParams`); the population
    mean for a subject without a positive repeat value."""
    x, m = _col(x).cast("double"), _col(m).cast("double")
    if isinstance(gg, ShrunkMeanParams):
        mu = F.lit(gg.population_mean)
        conditional = mu + x / (x + F.lit(gg.shrinkage)) * (m - mu)
    else:
        conditional = F.lit(gg.p) * (F.lit(gg.v) + x * m) / (F.lit(gg.p) * x + F.lit(gg.q - 1))
    return F.when((x > 0) & m.isNotNull() & (m > 0), conditional).otherwise(F.lit(gg.population_mean))


def clv_steps(horizon_days: float, period: str, annual_discount_rate: float) -> list[tuple[float, float]]:
    """(step end in periods, discount factor at that end) for the steps of the horizon: ceil(horizon / 30 days)
    equal steps (365 days: 13 of 28.1 days), each step's purchases valued at its end at (1 + rate)^(-days / 365)."""
    steps = max(1, math.ceil(horizon_days / CLV_STEP_DAYS))
    days = period_days(period)
    ends = [horizon_days * k / steps for k in range(1, steps + 1)]
    return [(d / days, (1 + annual_discount_rate) ** (-d / DAYS_PER_YEAR)) for d in ends]


def predict_clv(
    summary: DataFrame,
    bgnbd: BgNbdParams,
    gg: SpendParams,
    cfg: ClvConfig,
    horizon_days: float | None = None,
) -> DataFrame:
    """subject_id, frequency, recency, T, monetary_value, probability_alive, expected_purchases (over the horizon),
    expected_avg_value, predicted_clv for every subject of a :func:`btyd_summary`.

    predicted_clv = expected_avg_value x sum_k d_k (E[Y(t_k)] - E[Y(t_{k-1})]) over the steps of
    :func:`clv_steps`: the purchases expected in each step, discounted from its end. About monthly steps instead of
    one per period: the series costs terms x steps per row, and valuing a month's purchases at its end instead of
    when they happen moves the value by less than 1 - 1.1^(-1/12) = 0.8% at a 10% rate. The value is revenue
    (net_amount), not margin.

    The BG/NBD columns depend only on (x, t_x, T), so they are computed once per distinct triple (bounded by the
    history, see :func:`summary_bound`) and joined back: for millions of subjects the series runs on thousands of
    rows. ``summary`` is read twice (the triples and the join): persist it."""
    horizon = float(cfg.horizon_days if horizon_days is None else horizon_days)
    steps = clv_steps(horizon, cfg.period, cfg.annual_discount_rate)
    plan = series_plan(bgnbd, steps[-1][0])  # the longest horizon's plan bounds the shorter ones too
    triples = summary.select("frequency", "recency", "T").distinct()
    # the expectations as columns first, then their differences: each series is evaluated once per row
    ends = [f"_e{k}" for k in range(len(steps))]
    with_ends = triples.select(
        "*",
        probability_alive(bgnbd).alias("probability_alive"),
        *[expected_purchases(bgnbd, t, plan).alias(e) for (t, _), e in zip(steps, ends, strict=True)],
    )
    discounted = F.col(ends[0]) * F.lit(steps[0][1])
    for k in range(1, len(steps)):
        discounted = discounted + (F.col(ends[k]) - F.col(ends[k - 1])) * F.lit(steps[k][1])
    per_triple = with_ends.select(
        "frequency",
        "recency",
        "T",
        "probability_alive",
        F.col(ends[-1]).alias("expected_purchases"),
        discounted.alias("_discounted_purchases"),
    )
    avg_value = expected_average_value(gg)
    return summary.join(per_triple, ["frequency", "recency", "T"]).select(
        "subject_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
        "probability_alive",
        "expected_purchases",
        avg_value.alias("expected_avg_value"),
        (avg_value * F.col("_discounted_purchases")).alias("predicted_clv"),
    )


# ---------------------------------------------------------------------------------------------------- brackets


def bracket_thresholds(
    predictions: DataFrame, brackets: Mapping[str, float], column: str = "predicted_clv"
) -> dict[str, float]:
    """Bracket -> the quantile of ``column`` its members exceed (highest first), by approxQuantile: one number per
    bracket reaches the driver."""
    ordered = sorted(brackets.items(), key=lambda kv: -kv[1])
    values = predictions.approxQuantile(column, [q for _, q in ordered], 1e-4)
    return {name: float(v) for (name, _), v in zip(ordered, values, strict=True)}


def with_clv_brackets(
    predictions: DataFrame, thresholds: Mapping[str, float], column: str = "predicted_clv"
) -> DataFrame:
    """``predictions`` plus ``clv_bracket``: the first bracket (highest threshold first) whose threshold the value
    exceeds, else ``low`` (ties at a threshold fall below it)."""
    return predictions.withColumn("clv_bracket", tier_of(F.col(column), dict(thresholds)))


# ---------------------------------------------------------------------------------------------------- holdout


@dataclass
class HoldoutComparison:
    """Predicted vs actual repeat purchase periods in the holdout, for the subjects of the calibration summary."""

    calibration_cutoff: date
    holdout_end: date
    holdout_periods: float
    subjects: int
    actual_total: float
    predicted_total: float
    relative_error: float  # (predicted - actual) / actual over all subjects
    mae: float  # mean |predicted - actual| per subject
    rmse: float  # root mean squared (predicted - actual) per subject
    correlation: float  # Pearson, per subject
    by_frequency: list[dict] = field(default_factory=list)  # bucket ("0" .. "7", "8+"), subjects, mean actual/predicted

    def flat(self, prefix: str = "clv.holdout.") -> dict[str, float]:
        names = ("holdout_periods", "subjects", "actual_total", "predicted_total", "relative_error", "mae", "rmse",
                 "correlation")  # fmt: skip
        return {f"{prefix}{n}": float(getattr(self, n)) for n in names}


def holdout_purchases(orders: DataFrame, summary: DataFrame, start: date, end: date, period: str) -> DataFrame:
    """subject_id, actual: purchase periods (on the subject's grid from its first purchase day) with a completed
    order in [start 00:00 UTC, end 00:00 UTC), for the subjects of ``summary`` (0 when none). A holdout order in the
    period of the last calibration purchase (the period straddling the cut-off) is not a new purchase period."""
    days = period_days(period)
    window = _completed(orders).where((F.col("order_ts") >= cutoff_ts(start)) & (F.col("order_ts") < cutoff_ts(end)))
    grid = summary.select(
        "subject_id", "recency", F.datediff(F.col("first_purchase_date"), F.lit(date(1970, 1, 1))).alias("_first")
    )
    return (
        grid.join(window, "subject_id", "left")
        .withColumn("_k", F.floor((F.col("_day") - F.col("_first")) / F.lit(days)))
        .groupBy("subject_id")
        .agg(F.count_distinct(F.when(F.col("_k") != F.col("recency"), F.col("_k"))).cast("double").alias("actual"))
    )


def holdout_comparison(
    orders: DataFrame,
    calibration_cutoff: date,
    holdout_end: date,
    bgnbd: BgNbdParams,
    cfg: ClvConfig,
    summary: DataFrame | None = None,
) -> HoldoutComparison:
    """Validation in time of a BG/NBD fitted at ``calibration_cutoff``: for every subject of the calibration summary,
    the purchase periods in [calibration_cutoff, holdout_end) against E[Y(t)] over that length. One query (a rollup
    by calibration frequency bucket: the buckets and the total with Spark's F.corr); 10 rows reach the driver.
    ``summary``: the calibration :func:`btyd_summary` when the caller has it (persisted: it is read twice)."""
    summary = btyd_summary(orders, calibration_cutoff, cfg.period) if summary is None else summary
    t = (holdout_end - calibration_cutoff).days / period_days(cfg.period)
    actual = holdout_purchases(orders, summary, calibration_cutoff, holdout_end, cfg.period)
    bucket = F.when(F.col("frequency") >= FREQUENCY_BUCKETS, F.lit(f"{FREQUENCY_BUCKETS}+")).otherwise(
        F.col("frequency").cast("string")
    )
    scored = summary.select(
        "subject_id", "frequency", expected_purchases(bgnbd, t, x="frequency").alias("predicted")
    ).join(actual, "subject_id")
    rows = (
        scored.withColumn("bucket", bucket)
        .rollup("bucket")
        .agg(
            F.count("*").alias("subjects"),
            F.avg("actual").alias("mean_actual"),
            F.avg("predicted").alias("mean_predicted"),
            F.sum("actual").alias("actual_total"),
            F.sum("predicted").alias("predicted_total"),
            F.avg(F.abs(F.col("predicted") - F.col("actual"))).alias("mae"),
            F.sqrt(F.avg((F.col("predicted") - F.col("actual")) ** 2)).alias("rmse"),
            F.corr("actual", "predicted").alias("correlation"),
            F.min("frequency").alias("_order"),
        )
        .collect()
    )
    total = next(r for r in rows if r["bucket"] is None)
    by_frequency = [
        {k: r[k] for k in ("bucket", "subjects", "mean_actual", "mean_predicted")}
        for r in sorted((r for r in rows if r["bucket"] is not None), key=lambda r: r["_order"])
    ]
    actual_total, predicted_total = float(total["actual_total"]), float(total["predicted_total"])
    return HoldoutComparison(
        calibration_cutoff=calibration_cutoff,
        holdout_end=holdout_end,
        holdout_periods=t,
        subjects=int(total["subjects"]),
        actual_total=actual_total,
        predicted_total=predicted_total,
        relative_error=(predicted_total - actual_total) / actual_total if actual_total else math.nan,
        mae=float(total["mae"]),
        rmse=float(total["rmse"]),
        correlation=float(total["correlation"]) if total["correlation"] is not None else math.nan,
        by_frequency=by_frequency,
    )


def plot_holdout(comparison: HoldoutComparison, path: Path, period: str = "week") -> Path:
    """The classic BG/NBD validation figure: mean actual vs predicted purchases in the holdout by calibration
    frequency (left), subjects per frequency (right). PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = comparison.by_frequency
    labels = [r["bucket"] for r in table]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(labels, [r["mean_actual"] for r in table], "o-", label="actual")
    axes[0].plot(labels, [r["mean_predicted"] for r in table], "s--", label="BG/NBD")
    axes[0].set(
        title=f"Holdout purchase {period}s per subject",
        xlabel="repeat purchases in calibration",
        ylabel=f"mean purchase {period}s in holdout",
    )
    axes[0].legend(fontsize="small")
    axes[1].bar(labels, [r["subjects"] for r in table], color="tab:grey")
    axes[1].set(title="Subjects", xlabel="repeat purchases in calibration", ylabel="subjects")
    fig.suptitle(
        f"Calibration to {comparison.calibration_cutoff}, holdout to {comparison.holdout_end}: predicted "
        f"{comparison.predicted_total:.0f} vs actual {comparison.actual_total:.0f} "
        f"({comparison.relative_error:+.1%}), r = {comparison.correlation:.3f}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
