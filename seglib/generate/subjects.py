"""The subject universe: known customers (with a planted segment) and anonymous-only visitors, from spark.range."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config.generator import GeneratorConfig
from seglib.generate.calendar import SECONDS_PER_DAY, History, mean_acceptance
from seglib.generate.profiles import ANONYMOUS_CODE, COUNTRIES, PROFILES, SEGMENT_NAMES, by_segment, hour_seconds
from seglib.generate.rand import Rng, cumulative, lit_array, weighted_index

LAPSED_ACTIVE_SHARE = 0.55  # lapsed subjects are active only in this first share of the window
NEW_SIGNUP_FROM = 0.7  # new_curious sign up in the last 30% of the window
STITCHED_SHARE = 0.5  # share of older customers whose first identification falls inside the window
SESSION_END_MARGIN_S = 7_200  # sessions start at least this long before the window ends (no spill past it)


def subject_count(cfg: GeneratorConfig) -> tuple[int, int]:
    """(known customers, anonymous-only visitors)."""
    return cfg.customers, round(cfg.customers * cfg.anonymous_share)


def segment_shares(cfg: GeneratorConfig) -> list[float]:
    """Share weight of each known-customer profile (by PROFILES index): 0 for segments not planted."""
    return [p.share if p.name in cfg.segments else 0.0 for p in PROFILES[:ANONYMOUS_CODE]]


def segment_cumulative(cfg: GeneratorConfig) -> list[float]:
    """Cumulative segment weights; profiles after the last planted one end at 1.0 so rounding never draws them."""
    shares = segment_shares(cfg)
    cum = cumulative(shares)
    last = max(i for i, share in enumerate(shares) if share > 0)
    return [*cum[:last], *[1.0] * (len(cum) - last)]


def activity_scale(cfg: GeneratorConfig) -> float:
    """Events per unit of segment activity, so the mean over all subjects is ``events_per_customer``."""
    n_c, n_a = subject_count(cfg)
    known, shares = PROFILES[:ANONYMOUS_CODE], segment_shares(cfg)
    mean_known = sum(s * p.activity for s, p in zip(shares, known, strict=True)) / sum(shares)
    mean_all = (n_c * mean_known + n_a * PROFILES[ANONYMOUS_CODE].activity) / max(n_c + n_a, 1)
    return cfg.events_per_customer / mean_all


def subjects(spark: SparkSession, cfg: GeneratorConfig, history: History, rng: Rng) -> DataFrame:
    """One row per subject with its segment, ids, country, activity window, identification point and sessions."""
    n_c, n_a = subject_count(cfg)
    shares = segment_cumulative(cfg)
    return (
        spark.range(0, n_c + n_a, numPartitions=cfg.partitions)
        .withColumnRenamed("id", "subject_idx")
        .withColumn("is_customer", F.col("subject_idx") < n_c)
        .withColumn(
            "seg",
            F.when(F.col("is_customer"), weighted_index(rng.u("segment", "subject_idx"), lit_array(shares))).otherwise(
                F.lit(ANONYMOUS_CODE)
            ),
        )
        .withColumn("segment", F.element_at(lit_array(SEGMENT_NAMES), F.col("seg") + 1))
        .withColumn(
            "customer_id",
            F.when(F.col("is_customer"), F.format_string("CUST-%08d", F.col("subject_idx") + 1)),
        )
        .withColumn("anonymous_id", F.concat(F.lit("anon-"), rng.hex_id("anonymous_id", "subject_idx")))
        .transform(lambda df: _with_country(df, rng))
        .transform(lambda df: _with_window(df, history, rng))
        .transform(lambda df: _with_sessions(df, cfg, history, rng))
        .withColumn(
            "is_deleted",
            F.col("is_customer")
            & (rng.u("deleted", "subject_idx") < F.when(F.col("segment") == "support_heavy", 0.08).otherwise(0.04)),
        )
    )


def _with_country(df: DataFrame, rng: Rng) -> DataFrame:
    idx = weighted_index(rng.u("country", "subject_idx"), lit_array(cumulative([c[3] for c in COUNTRIES])))
    return (
        df.withColumn("_country_idx", idx + 1)
        .withColumn("country", F.element_at(lit_array([c[0] for c in COUNTRIES]), F.col("_country_idx")))
        .withColumn("currency_code", F.element_at(lit_array([c[1] for c in COUNTRIES]), F.col("_country_idx")))
        .withColumn("calling_code", F.element_at(lit_array([c[2] for c in COUNTRIES]), F.col("_country_idx")))
        .drop("_country_idx")
    )


def _with_window(df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """Active days [win_start, win_end), signup day, and the in-window identification moment (link_sec)."""
    days = history.days
    seg = F.col("segment")
    signup_new = F.least(
        F.floor(F.lit(days * NEW_SIGNUP_FROM) + rng.u("signup", "subject_idx") * (days * (1 - NEW_SIGNUP_FROM))),
        F.lit(days - 1),
    )
    signup_old = -(F.lit(30) + F.floor(rng.u("signup", "subject_idx") * 1500))
    latest_start = F.lit(days * SECONDS_PER_DAY - SESSION_END_MARGIN_S)
    stitched = F.col("is_customer") & ((seg == "new_curious") | (rng.u("stitched", "subject_idx") < STITCHED_SHARE))
    link_day = F.when(seg == "new_curious", F.col("signup_day")).otherwise(
        F.col("win_start") + F.floor(rng.u("link_day", "subject_idx") * 0.3 * (F.col("win_end") - F.col("win_start")))
    )
    link_sec = link_day * SECONDS_PER_DAY + hour_seconds(F.col("seg"), rng.normal("link_hour", "subject_idx"))
    return (
        df.withColumn("signup_day", F.when(seg == "new_curious", signup_new).otherwise(signup_old).cast("int"))
        .withColumn(
            "win_start",
            F.when(seg == "new_curious", F.greatest(F.lit(0), F.col("signup_day") - 4)).otherwise(F.lit(0)).cast("int"),
        )
        .withColumn(
            "win_end",
            F.when(seg == "lapsed", F.lit(max(1, int(days * LAPSED_ACTIVE_SHARE)))).otherwise(F.lit(days)).cast("int"),
        )
        .withColumn("link_sec", F.when(stitched, F.least(link_sec, latest_start)))
        .withColumn("link_kind", F.when(stitched, F.when(seg == "new_curious", "signup").otherwise("login")))
        .withColumn("signup_date", F.when(F.col("is_customer"), history.day(F.col("signup_day"))))
    )


def _with_sessions(df: DataFrame, cfg: GeneratorConfig, history: History, rng: Rng) -> DataFrame:
    """Sessions to draw (before seasonal thinning): target events / events per session / keep-probability."""
    code = F.col("seg")
    acceptance = F.element_at(lit_array(mean_acceptance(history)), code + 1)
    activity = by_segment(code, lambda p: float(p.activity))
    eps = by_segment(code, lambda p: float(p.events_per_session))
    jitter = F.exp(F.lit(0.5) * rng.normal("activity", "subject_idx") - F.lit(0.125))  # log-normal, mean 1
    target = F.lit(activity_scale(cfg)) * activity * jitter
    return df.withColumn("n_sessions", F.greatest(F.lit(1), F.round(target / eps / acceptance)).cast("int"))


def planted_truth(subject_df: DataFrame) -> DataFrame:
    """What a segmentation should recover: each subject's planted segment (written beside the raw tables)."""
    return subject_df.select(
        "customer_id",
        "anonymous_id",
        F.col("segment").alias("planted_segment"),
        (~F.col("is_customer")).alias("is_anonymous_only"),
        "is_deleted",
    )
