"""A seeded, Spark-native simulator of purchases from a BG/NBD + Gamma-Gamma process with known parameters: the
ground truth the CLV models are checked against (tests/modeling/test_clv.py).

Per customer ``c`` (``n_customers`` of them, first purchase at a uniform instant of the acquisition window):
- purchase rate lambda ~ Gamma(r, rate alpha) per period of ``period_days`` days, dropout probability
  p ~ Beta(a, b), spend scale nu ~ Gamma(q, rate v);
- repeat purchases follow a Poisson process of rate lambda; after each one the customer drops out with
  probability p (FHL 2005), so the number of repeat purchases before dropping out is K ~ Geometric(p) on 1, 2, ...;
- every order (the first too) spends Gamma(p_spend, rate nu).
Orders end at ``start + days``.

Every draw is a Column of :class:`seglib.generate.rand.Rng` uniforms keyed by (customer, purchase): no UDF, no
driver-side data, and the output does not depend on partitioning. Gamma variates by Marsaglia & Tsang (2000) with
a fixed number of tries (acceptance >= 95% per try for shape >= 1, boosted by U^(1/shape) below 1; after
``GAMMA_TRIES`` = 8 rejections, probability < 0.05^8 = 4e-11, the mode-like d is returned), Beta as G1 / (G1 + G2),
the geometric K by inversion, purchase times as cumulative sums of exponential gaps. A customer's gaps stop at
min(K, mu + 10 sqrt(mu) + 10) with mu = lambda x (the customer's observed periods): more Poisson arrivals than that
in the window has probability far below 1e-20, so the cap changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from seglib.features._time import SECONDS_PER_DAY, cutoff_seconds
from seglib.generate.rand import Key, Rng

GAMMA_TRIES = 8
TINY = 1e-300


@dataclass(frozen=True)
class BtydTruth:
    """Parameters of the simulated process; ``alpha`` is per period of ``period_days`` days."""

    r: float = 0.25
    alpha: float = 4.0
    a: float = 0.8
    b: float = 2.5
    p_spend: float = 6.0  # Gamma-Gamma p (shape of one spend)
    q: float = 4.0
    v: float = 15.0
    period_days: int = 7

    @property
    def mean_spend(self) -> float:
        """Population mean spend per purchase, p v / (q - 1)."""
        return self.p_spend * self.v / (self.q - 1)


def standard_gamma(rng: Rng, salt: str, shape: float, *keys: Key) -> Column:
    """Gamma(shape, rate 1) by Marsaglia & Tsang: for d = shape - 1/3 and c = 1 / sqrt(9 d), draw a normal x and a
    uniform u, accept d (1 + c x)^3 when v = (1 + c x)^3 > 0 and log u < x^2 / 2 + d - d v + d log v. Shapes below 1
    draw Gamma(shape + 1) times U^(1/shape). ``GAMMA_TRIES`` tries, the first accepted wins. The tries are an array
    (transform, filter): each draw is computed once, where a chain of CASE expressions would repeat x and v's
    subtrees in every comparison."""
    if shape <= 0:
        raise ValueError(f"gamma shape must be positive, not {shape}")
    boosted = shape < 1
    d = (shape + 1 if boosted else shape) - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    draws = F.transform(
        F.sequence(F.lit(0), F.lit(GAMMA_TRIES - 1)),
        lambda i: F.struct(
            rng.normal(f"{salt}.x", *keys, i).alias("x"),
            (F.lit(1.0) - rng.u(f"{salt}.u", *keys, i)).alias("u"),  # (0, 1]: its log is finite
        ),
    )
    candidates = F.transform(
        draws, lambda s: F.struct(s["x"], s["u"], F.pow(F.lit(1.0) + F.lit(c) * s["x"], 3).alias("v"))
    )
    accepted = F.filter(
        candidates,
        lambda s: (
            (s["v"] > 0)
            & (
                F.log(s["u"])
                < s["x"] * s["x"] / 2 + F.lit(d) - F.lit(d) * s["v"] + F.lit(d) * F.log(F.greatest(s["v"], F.lit(TINY)))
            )
        ),
    )
    value = F.coalesce(F.get(accepted, 0)["v"] * F.lit(d), F.lit(d))  # get: null past the end, ANSI or not
    if boosted:
        value = value * F.pow(F.lit(1.0) - rng.u(f"{salt}.boost", *keys), F.lit(1.0 / shape))
    return value


def beta_variate(rng: Rng, salt: str, a: float, b: float, *keys: Key) -> Column:
    """Beta(a, b) as G_a / (G_a + G_b)."""
    ga, gb = standard_gamma(rng, f"{salt}.a", a, *keys), standard_gamma(rng, f"{salt}.b", b, *keys)
    return ga / F.greatest(ga + gb, F.lit(TINY))


def customers(
    spark: SparkSession, truth: BtydTruth, n_customers: int, start: date, acquisition_days: int, seed: int
) -> DataFrame:
    """One row per customer: subject_id, birth (epoch seconds of the first purchase), lam, p, nu."""
    rng = Rng(seed)
    key = "cid"
    return (
        spark.range(n_customers)
        .withColumnRenamed("id", key)
        .select(
            key,
            F.format_string("btyd-%07d", F.col(key)).alias("subject_id"),
            (F.lit(cutoff_seconds(start)) + rng.u("birth", key) * F.lit(acquisition_days * SECONDS_PER_DAY)).alias(
                "birth"
            ),
            F.greatest(standard_gamma(rng, "lambda", truth.r, key) / F.lit(truth.alpha), F.lit(TINY)).alias("lam"),
            F.least(F.greatest(beta_variate(rng, "p", truth.a, truth.b, key), F.lit(1e-12)), F.lit(1 - 1e-12)).alias(
                "p"
            ),
            F.greatest(standard_gamma(rng, "nu", truth.q, key) / F.lit(truth.v), F.lit(TINY)).alias("nu"),
        )
    )


def simulate_orders(
    spark: SparkSession,
    truth: BtydTruth,
    n_customers: int,
    start: date,
    days: int,
    acquisition_days: int | None = None,
    seed: int = 7,
) -> DataFrame:
    """Orders-shaped frame (subject_id, order_ts, order_date, status = "completed", amount, net_amount as
    decimal(18,2)) of ``n_customers`` customers first buying uniformly in [start, start + acquisition_days) (default:
    the first half of the window), simulated to ``start + days``. Spends are rounded to cents (at least 0.01)."""
    rng = Rng(seed)
    acquisition = days // 2 if acquisition_days is None else acquisition_days
    period_s = truth.period_days * SECONDS_PER_DAY
    end_s = cutoff_seconds(start) + days * SECONDS_PER_DAY
    base = customers(spark, truth, n_customers, start, acquisition, seed)
    observed = (F.lit(end_s) - F.col("birth")) / F.lit(period_s)  # periods from the first purchase to the end
    mu = F.col("lam") * observed
    k_dropout = F.floor(F.log(F.lit(1.0) - rng.u("dropout", "cid")) / F.log1p(-F.col("p"))) + 1
    cap = F.ceil(mu + F.lit(10.0) * F.sqrt(mu) + F.lit(10.0))
    n_gaps = F.least(k_dropout, cap).cast("int")
    repeats = (
        base.withColumn("j", F.explode(F.sequence(F.lit(1), n_gaps)))
        .withColumn("_gap", -F.log(F.lit(1.0) - rng.u("gap", "cid", "j")) / F.col("lam"))
        .withColumn("_t", F.sum("_gap").over(Window.partitionBy("cid").orderBy("j")))
        .where(F.col("_t") < observed)
        .select("cid", "subject_id", "nu", "j", (F.col("birth") + F.col("_t") * F.lit(period_s)).alias("_ts"))
    )
    first = base.select("cid", "subject_id", "nu", F.lit(0).alias("j"), F.col("birth").alias("_ts"))
    spend = standard_gamma(rng, "spend", truth.p_spend, "cid", "j") / F.col("nu")
    amount = F.greatest(F.round(spend, 2), F.lit(0.01)).cast("decimal(18,2)")
    return (
        first.unionByName(repeats)
        .where(F.col("_ts") < F.lit(end_s))
        .select(
            "subject_id",
            F.timestamp_seconds(F.floor(F.col("_ts"))).alias("order_ts"),
            F.lit("completed").alias("status"),
            amount.alias("amount"),
        )
        .withColumn("net_amount", F.col("amount"))
        .withColumn("order_date", F.to_date("order_ts"))
    )
