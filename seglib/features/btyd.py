"""Buy-till-you-die features: what a BG/NBD fit on the orders before the cut-off says about each buyer.

One fit per feature build, on the completed orders strictly before the cut-off of the subjects the build keeps
(``privacy.required_consent``), aggregated by (x, t_x, T) with the BG/NBD core the CLV stage uses too
(``seglib.features.bgnbd``): so every snapshot, training cut-offs included, is point-in-time correct, and the
propensity leakage check covers these columns like any other. When there is nothing to fit (too few buyers, a
summary table too large, a fit that did not converge or whose series cannot be bounded) the BG/NBD columns are null
and the build goes on.
"""

from __future__ import annotations

import logging
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.features import BtydConfig
from seglib.errors import ClvError
from seglib.features._time import as_of_epoch_day, before_cutoff, utc_epoch_day
from seglib.features.bgnbd import (
    BgNbdParams,
    aggregate_summary,
    btyd_summary,
    collect_bounded,
    expected_purchases,
    fit_bgnbd,
    period_days,
    probability_alive,
    series_plan,
)

log = logging.getLogger(__name__)

BTYD_COLUMNS = ("btyd_p_alive", "btyd_expected_purchases")
GAP_COLUMN = "recency_gap_ratio"
TRIPLE = ("frequency", "recency", "T")


def fit_btyd(summary: DataFrame, cfg: BtydConfig) -> BgNbdParams | None:
    """BG/NBD parameters fitted on ``summary`` (:func:`btyd_summary` rows), or None when nothing usable can be
    fitted (the reason is logged). One Spark job: the aggregated table, bounded by ``cfg.max_summary_rows``."""
    try:
        agg = collect_bounded(aggregate_summary(summary), cfg.max_summary_rows, "btyd features")
    except ClvError as e:
        log.warning("btyd features: no BG/NBD fit (%s); btyd columns null", e)
        return None
    buyers = int(agg["weight"].sum()) if len(agg) else 0
    if buyers < cfg.min_buyers or not (agg["frequency"] > 0).any():
        log.warning("btyd features: %d buyers (%s needed, some repeat); btyd columns null", buyers, cfg.min_buyers)
        return None
    fit = fit_bgnbd(agg)
    if not fit.converged:
        log.warning("btyd features: BG/NBD fit did not converge (%s); btyd columns null", fit.message)
        return None
    if fit.at_bound:  # still a ranking (e.g. no dropout: the NBD limit); the CLV stage refuses to publish it
        log.info("btyd features: BG/NBD parameter at the optimiser's bounds: %s", fit.params)
    return fit.params


def _predicted(summary: DataFrame, params: BgNbdParams | None, cfg: BtydConfig) -> DataFrame:
    """subject_id + BTYD_COLUMNS: computed once per distinct (x, t_x, T) and joined back (the 2F1 series is the
    costly part; buyers share few triples)."""
    if params is None:
        return summary.select("subject_id", *[F.lit(None).cast("double").alias(c) for c in BTYD_COLUMNS])
    horizon = cfg.horizon_days / period_days(cfg.period)
    try:
        plan = series_plan(params, horizon)
    except ClvError as e:
        log.warning("btyd features: %s; btyd columns null", e)
        return _predicted(summary, None, cfg)
    triples = summary.select(*TRIPLE).distinct()
    predicted = triples.select(
        *TRIPLE,
        probability_alive(params).alias("btyd_p_alive"),
        expected_purchases(params, horizon, plan).alias("btyd_expected_purchases"),
    )
    return summary.select("subject_id", *TRIPLE).join(F.broadcast(predicted), list(TRIPLE)).drop(*TRIPLE)


def recency_gap_ratio(orders: DataFrame, as_of: date) -> DataFrame:
    """subject_id, recency_gap_ratio: days since the last completed order day / the subject's mean days between
    its order days ((last - first) / (order days - 1)); null with fewer than two order days before the cut-off."""
    days = (
        orders.where((F.col("status") == "completed") & before_cutoff(F.col("order_ts"), as_of))
        .select("subject_id", utc_epoch_day(F.col("order_ts")).alias("_day"))
        .groupBy("subject_id")
        .agg(F.min("_day").alias("_first"), F.max("_day").alias("_last"), F.count_distinct("_day").alias("_n"))
    )
    mean_gap: Column = (F.col("_last") - F.col("_first")) / (F.col("_n") - 1)
    since_last = F.lit(as_of_epoch_day(as_of)) - F.col("_last")
    return days.select("subject_id", F.when(F.col("_n") > 1, since_last / mean_gap).alias(GAP_COLUMN))


def btyd_features(orders: DataFrame, subjects: DataFrame, as_of: date, cfg: BtydConfig) -> DataFrame:
    """subject_id, btyd_p_alive, btyd_expected_purchases, recency_gap_ratio for the ``subjects`` with a completed
    order before ``as_of`` (others are absent: the build leaves them null). The BG/NBD is fitted on those subjects
    only (one driver fit; see :func:`fit_btyd`)."""
    summary = btyd_summary(orders, as_of, cfg.period).join(subjects, "subject_id", "left_semi")
    predicted = _predicted(summary, fit_btyd(summary, cfg), cfg)
    gaps = recency_gap_ratio(orders.join(subjects, "subject_id", "left_semi"), as_of)
    return predicted.join(gaps, "subject_id", "full")


__all__ = ["BTYD_COLUMNS", "GAP_COLUMN", "btyd_features", "fit_btyd", "recency_gap_ratio"]
