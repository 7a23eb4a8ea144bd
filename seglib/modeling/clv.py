"""Predicted customer lifetime value: BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way") for
how many purchases a subject will make, Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
curves") for what they will be worth, fitted by weighted maximum likelihood on aggregated summaries.

The BG/NBD core (the per-subject summary and its time layout, the BG/NBD fit, P(alive) and expected purchases)
lives in :mod:`seglib.features.bgnbd`, which the BTYD features share; this module adds the spend models, the CLV
prediction, the brackets and the holdout validation, and re-exports the core's names (``__all__``).

Value: Gamma-Gamma needs positive values, so it fits (``monetary_periods``, ``monetary_value``) of the subjects
that have a positive repeat period value (the summary's value columns: :mod:`seglib.features.bgnbd`). A subject
without one gets the population mean spend. ``monetary_ss`` feeds the within-subject variance of the fallback below.

Spend when Gamma-Gamma is degenerate (:func:`fit_spend`): the value model is then a credibility estimate
(Buhlmann-Straub, the distribution-free empirical-Bayes form of the same posterior mean), flagged ``shrunk_mean``
with its reason, instead of refusing CLV; BG/NBD is unchanged and still refused when degenerate.

Predictions run from ``T`` over ``horizon_days`` (expected purchases, CLV discounted in about monthly steps); the
holdout counts the purchase periods in ``[c, c + holdout_days)`` after the calibration cut-off ``c``.

Everything that reaches the driver is bounded: the aggregated likelihood tables (refused above
``clv.max_summary_rows``), quantile thresholds, the holdout table by frequency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, overload

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from scipy.special import digamma, gammaln

from seglib.config.clv import ClvConfig
from seglib.errors import ClvError
from seglib.features._time import cutoff_ts
from seglib.features.bgnbd import (
    BgNbdFit,
    BgNbdParams,
    ColumnOrName,
    SeriesPlan,
    _col,
    _completed,
    _maximise,
    _Mle,
    _weights,
    aggregate_summary,
    bgnbd_log_likelihood,
    btyd_summary,
    collect_bounded,
    expected_purchases,
    fit_bgnbd,
    history_periods,
    hyp2f1_series,
    period_days,
    probability_alive,
    series_plan,
    series_terms,
    summary_bound,
)
from seglib.modeling.propensity import tier_of

log = logging.getLogger(__name__)

DAYS_PER_YEAR = 365.0
CLV_STEP_DAYS = 30  # discounting steps of at most this many days (about monthly; see predict_clv)
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
SPEND_METHODS = ("mle", "shrunk_mean")  # how expected_avg_value is estimated (see fit_spend)
SHRINKAGE_CAP = 1e9  # k without heterogeneity: a credibility weight x / (x + k) below 1e-9 per period, in effect 0
MIN_SPEND_HETEROGENEITY = 1e-3  # between-subject sd of the mean spend / the mean below this: "no heterogeneity"
FREQUENCY_BUCKETS = 8  # holdout table: calibration frequency 0 .. 7 and "8+"


# ---------------------------------------------------------------------------------------------------- summary


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


# ---------------------------------------------------------------------------------------------------- likelihoods


def gamma_gamma_log_likelihood(params: tuple[float, float, float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-row Gamma-Gamma log-likelihood of (p, q, v) for x > 0 values with mean m: the density of the mean of x
    Gamma(p, nu) spends, nu ~ Gamma(q, v) integrated out."""
    return _gamma_gamma(np.log(np.asarray(params, dtype=float)), x, m, grad=False)[0]


@overload
def _gamma_gamma(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, grad: Literal[True] = ...
) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def _gamma_gamma(
    log_params: np.ndarray, x: np.ndarray, m: np.ndarray, grad: Literal[False]
) -> tuple[np.ndarray, None]: ...
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
class GammaGammaFit(_Mle):
    params: GammaGammaParams

    @property
    def model(self) -> str:
        return "gamma_gamma"


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


__all__ = [
    "CLV_STEP_DAYS",
    "DAYS_PER_YEAR",
    "FREQUENCY_BUCKETS",
    "GAMMA_GAMMA_PARAMS",
    "MIN_SPEND_HETEROGENEITY",
    "SHRINKAGE_CAP",
    "SPEND_METHODS",
    "ClvModels",
    "GammaGammaFit",
    "GammaGammaParams",
    "HoldoutComparison",
    "ShrunkMeanParams",
    "SpendModel",
    "SpendMoments",
    "SpendParams",
    "aggregate_monetary",
    "bracket_thresholds",
    "check_publishable",
    "clv_steps",
    "expected_average_value",
    "fit_gamma_gamma",
    "fit_models",
    "fit_problems",
    "fit_spend",
    "gamma_gamma_log_likelihood",
    "holdout_comparison",
    "holdout_purchases",
    "plot_holdout",
    "predict_clv",
    "shrunk_mean",
    "spend_method",
    "spend_moments",
    "spend_without_heterogeneity",
    "with_clv_brackets",
]
# the BG/NBD core and the shared error, re-exported: callers use them as seglib.modeling.clv names
__all__ += [
    "BgNbdFit",
    "BgNbdParams",
    "ClvError",
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
