"""RFM and lifetime value from silver orders: one grouped pass, then quantile scores with stored thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.features import LifetimeConfig, RfmConfig
from seglib.features._time import as_of_epoch_day, before_cutoff, in_last_days, utc_epoch_day

WINDOWS = (30, 90, 365)
ORDER_COUNT_DEFAULTS: dict[str, Any] = {
    **{f"frequency_{w}d": 0 for w in WINDOWS},
    **{f"monetary_{w}d": 0.0 for w in WINDOWS},
    "clv_historical": 0.0,
}
SCORE_INPUTS = {"r_score": "recency_days", "f_score": "frequency_365d", "m_score": "monetary_365d"}


def _money(col: Column) -> Column:
    """Exact decimal sum first, then double for ML (documented in the data dictionary)."""
    return F.coalesce(F.sum(col), F.lit(0)).cast("double")


def order_features(orders: DataFrame, as_of: date) -> DataFrame:
    """Per subject: recency, frequency and net monetary in 30/90/365-day windows, historical CLV."""
    ts = F.col("order_ts")
    completed = F.col("status") == "completed"
    net = F.coalesce(F.col("net_amount"), F.lit(0))
    aggs = [F.max(F.when(completed, utc_epoch_day(ts))).alias("_last_completed_day")]
    for w in WINDOWS:
        recent = in_last_days(ts, as_of, w)
        aggs.append(F.sum(F.when(completed & recent, 1).otherwise(0)).cast("long").alias(f"frequency_{w}d"))
        aggs.append(_money(F.when(recent, net)).alias(f"monetary_{w}d"))
    aggs += [_money(net).alias("clv_historical"), F.min(utc_epoch_day(ts)).alias("_first_order_day")]
    return (
        orders.where(before_cutoff(ts, as_of) & F.col("subject_id").isNotNull())
        .groupBy("subject_id")
        .agg(*aggs)
        .withColumn("recency_days", (F.lit(as_of_epoch_day(as_of)) - F.col("_last_completed_day")).cast("int"))
        .drop("_last_completed_day")
    )


def with_aov(df: DataFrame) -> DataFrame:
    """Average order value over 365 days; null without completed orders."""
    return df.withColumn(
        "aov_365d", F.when(F.col("frequency_365d") > 0, F.col("monetary_365d") / F.col("frequency_365d"))
    )


@dataclass(frozen=True)
class RfmThresholds:
    """Quantile cut points of the R/F/M scores, computed once per run and stored with it."""

    recency: list[float] = field(default_factory=list)
    frequency: list[float] = field(default_factory=list)
    monetary: list[float] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "recency_days": list(self.recency),
            "frequency_365d": list(self.frequency),
            "monetary_365d": list(self.monetary),
            "probabilities": list(self.probabilities),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> RfmThresholds:
        return cls(
            recency=list(data["recency_days"]),
            frequency=list(data["frequency_365d"]),
            monetary=list(data["monetary_365d"]),
            probabilities=list(data.get("probabilities", [])),
        )


def compute_rfm_thresholds(rfm: DataFrame, cfg: RfmConfig) -> RfmThresholds:
    """approxQuantile cut points over buyers (recency known); only the few thresholds reach the driver."""
    probs = [i / cfg.score_bins for i in range(1, cfg.score_bins)]
    buyers = rfm.where(F.col("recency_days").isNotNull())
    cols = list(SCORE_INPUTS.values())
    rec, freq, mon = buyers.select(*[F.col(c).cast("double") for c in cols]).approxQuantile(
        cols, probs, cfg.quantile_relative_error
    )
    return RfmThresholds(recency=rec, frequency=freq, monetary=mon, probabilities=probs)


def _score(value: Column, thresholds: list[float], higher_is_better: bool) -> Column:
    """1 + number of thresholds the value beats; nulls (no purchase) score 1."""
    beats = [(value > t) if higher_is_better else (value < t) for t in thresholds]
    total = F.lit(1)
    for b in beats:
        total = total + F.when(b, 1).otherwise(0)
    return total.cast("int")


def with_rfm_scores(df: DataFrame, thresholds: RfmThresholds, cfg: RfmConfig) -> DataFrame:
    """r/f/m scores (thresholds kept in each score column's metadata), rfm_cell such as "545" and rfm_score."""
    meta = {"rfm_thresholds": thresholds.to_dict()}
    r = _score(F.col("recency_days"), thresholds.recency, higher_is_better=False)
    f = _score(F.col("frequency_365d"), thresholds.frequency, higher_is_better=True)
    m = _score(F.col("monetary_365d"), thresholds.monetary, higher_is_better=True)
    return (
        df.withColumn("r_score", r.alias("r_score", metadata=meta))
        .withColumn("f_score", f.alias("f_score", metadata=meta))
        .withColumn("m_score", m.alias("m_score", metadata=meta))
        .withColumn("rfm_cell", F.concat(*[F.col(c).cast("string") for c in ("r_score", "f_score", "m_score")]))
        .withColumn(
            "rfm_score",
            F.col("r_score") * cfg.recency_weight
            + F.col("f_score") * cfg.frequency_weight
            + F.col("m_score") * cfg.monetary_weight,
        )
    )


def with_clv_bracket(df: DataFrame, cfg: LifetimeConfig) -> DataFrame:
    """Label historical CLV with the configured brackets (edges are inclusive upper bounds)."""
    expr = None
    for edge, label in zip(cfg.clv_bracket_edges, cfg.clv_bracket_labels, strict=False):
        cond = F.col("clv_historical") <= edge
        expr = F.when(cond, label) if expr is None else expr.when(cond, label)
    last = F.lit(cfg.clv_bracket_labels[-1])
    return df.withColumn("clv_bracket", expr.otherwise(last) if expr is not None else last)
