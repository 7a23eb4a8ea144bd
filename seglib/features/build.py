"""Assemble the feature table: each group aggregates its own silver table once; groups join on subject_id once."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import reduce

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.features import FeaturesConfig
from seglib.features._time import as_of_epoch_day, clipped
from seglib.features.btyd import btyd_features
from seglib.features.dictionary import feature_column_comments
from seglib.features.events import COUNT_DEFAULTS, affinity_columns, aggregate_events, prepare_events
from seglib.features.profile import demographic_features
from seglib.features.psychographics import (
    fit_text_model,
    interest_columns,
    psychographic_features,
    resolve_engine,
    texts_before,
)
from seglib.features.rfm import (
    ORDER_COUNT_DEFAULTS,
    RfmThresholds,
    compute_rfm_thresholds,
    order_features,
    with_aov,
    with_clv_bracket,
    with_rfm_scores,
)

SILVER_KEYS = ("events", "customers_history", "orders", "consents", "texts")


NO_TEXT_ENGINE = "none"  # text_engine when psychographics are disabled


@dataclass(frozen=True)
class FeatureSet:
    """The lazy feature DataFrame plus what must be stored with the run: the RFM score thresholds and the text
    engine that produced the psychographic columns (``builtin`` | ``sparknlp`` | ``none`` when disabled)."""

    features: DataFrame
    rfm_thresholds: RfmThresholds | None
    text_engine: str
    text_model: PipelineModel | None = None  # the fitted Spark NLP pipeline (engine sparknlp), logged with the run


def consented_subjects(consents: DataFrame, purpose: str) -> DataFrame:
    """Subjects whose current consent to ``purpose`` (``privacy.required_consent``) is true; a later revocation
    applies to every snapshot."""
    if purpose not in consents.columns:
        raise ValueError(f"privacy.required_consent {purpose!r} is not a consent purpose of silver consents")
    return consents.where(F.col(purpose)).select("subject_id").distinct()


def _unknown_index_inputs(cfg: FeaturesConfig, columns: Iterable[str]) -> list[str]:
    """Positively weighted engagement-index inputs that are not among ``columns``."""
    known = set(columns)
    return [c for c, w in cfg.engagement.index_weights.items() if w > 0 and c not in known]


def _check_index_weights(cfg: FeaturesConfig) -> None:
    """Fail before any data is read when an index weight names no column the build can produce: a documented
    feature of this config (engagement_index itself excluded) or an internal "_" helper column."""
    if not cfg.engagement.enabled:
        return
    documented = [c for c in feature_column_comments(cfg) if c != "engagement_index"]
    unknown = [c for c in _unknown_index_inputs(cfg, documented) if not c.startswith("_")]
    if unknown:
        raise ValueError(f"features.engagement.index_weights names unknown feature columns: {unknown}")


def with_engagement_index(df: DataFrame, cfg: FeaturesConfig) -> DataFrame:
    """Weighted mean of inputs scaled by a population quantile (a 1-row cross join; nothing is collected)."""
    weights = {c: w for c, w in cfg.engagement.index_weights.items() if w > 0}
    missing = _unknown_index_inputs(cfg, df.columns)
    if missing:
        raise ValueError(f"features.engagement.index_weights names unknown feature columns: {missing}")
    if not weights:
        return df.withColumn("engagement_index", F.lit(0.0))
    q = cfg.engagement.index_normalisation_quantile
    # The scales aggregate the whole table and are joined back to it: materialised once (per subject, bounded by the
    # subjects) rather than every upstream aggregation running twice.
    df = df.localCheckpoint(eager=True)
    scales = df.agg(
        *[F.percentile_approx(F.col(c).cast("double"), q).alias(f"_scale_{i}") for i, c in enumerate(weights)]
    )
    total = sum(weights.values())
    parts = []
    for i, (c, w) in enumerate(weights.items()):
        scale = F.col(f"_scale_{i}")
        norm = F.when(scale > 0, clipped(F.col(c) / scale, lower=0.0, upper=1.0))
        # An undefined input (e.g. email_click_rate_90d without opens) adds nothing to the index.
        parts.append(F.coalesce(norm, F.lit(0.0)) * (w / total))
    index = reduce(lambda a, b: a + b, parts)
    return (
        df.crossJoin(F.broadcast(scales))
        .withColumn("engagement_index", index)
        .drop(*[f"_scale_{i}" for i in range(len(weights))])
    )


FillValue = bool | float | int | str  # a value DataFrame.fillna takes


def _fill(df: DataFrame, defaults: Mapping[str, FillValue]) -> DataFrame:
    present = {c: v for c, v in defaults.items() if c in df.columns}
    return df.fillna(present) if present else df


def build_feature_set(
    silver: Mapping[str, DataFrame],
    cfg: FeaturesConfig,
    as_of: date,
    rfm_thresholds: RfmThresholds | None = None,
    *,
    required_consent: str,
) -> FeatureSet:
    """Silver tables -> one row per subject consenting to ``required_consent`` with snapshot_date = as_of (pass
    thresholds to reuse them). Any silver table may be empty."""
    missing = [k for k in SILVER_KEYS if k not in silver]
    if missing:
        raise KeyError(f"silver tables missing: {missing}")
    _check_index_weights(cfg)  # a config error is raised before any Spark work
    consented = consented_subjects(silver["consents"], required_consent)
    orders = order_features(silver["orders"], as_of)
    events = aggregate_events(prepare_events(silver["events"], cfg, as_of), cfg, as_of)
    customers = demographic_features(silver["customers_history"], as_of, cfg.demographics.plan_order)
    if not cfg.demographics.enabled:
        customers = customers.select("subject_id", "_customer_country", "_signup_day")
    parts = [orders, events, customers]
    if cfg.btyd.enabled:
        parts.append(btyd_features(silver["orders"], consented, as_of, cfg.btyd))
    defaults: dict[str, FillValue] = {**ORDER_COUNT_DEFAULTS, **COUNT_DEFAULTS}
    defaults |= dict.fromkeys(affinity_columns(cfg), 0.0)
    text_engine, text_model = NO_TEXT_ENGINE, None
    if cfg.psychographics.enabled:
        text_engine = resolve_engine(silver["texts"].sparkSession, cfg.psychographics)
        if text_engine == "sparknlp":
            text_model = fit_text_model(texts_before(silver["texts"], as_of), cfg.psychographics)
        parts.append(psychographic_features(silver["texts"], cfg.psychographics, as_of, text_engine, text_model))
        defaults |= {"text_count": 0} | dict.fromkeys(interest_columns(cfg.psychographics), 0.0)

    # Full outer joins: every part is computed once (each is already partitioned by subject_id by its aggregation).
    # A distinct spine of all parts' subjects, left-joined to each part, computed every part twice.
    df = reduce(lambda acc, p: acc.join(p, "subject_id", "full"), parts).join(consented, "subject_id", "left_semi")
    df = (
        _fill(df, defaults)
        .withColumn("snapshot_date", F.lit(as_of))
        .withColumn("country", F.coalesce(F.col("_customer_country"), F.col("_event_country")))
        .withColumn(
            "tenure_days",
            # least() skipping nulls is wanted here: the earliest of the dates that are known.
            (
                F.lit(as_of_epoch_day(as_of))
                - F.least(F.col("_signup_day"), F.col("_first_order_day"), F.col("_first_event_day"))
            ).cast("int"),
        )
        .transform(with_aov)
    )
    if cfg.rfm.enabled:
        if rfm_thresholds is None:
            rfm_thresholds = compute_rfm_thresholds(orders.join(consented, "subject_id", "left_semi"), cfg.rfm)
        df = with_rfm_scores(df, rfm_thresholds, cfg.rfm)
    if cfg.lifetime.enabled:
        df = with_clv_bracket(df, cfg.lifetime)
    if cfg.engagement.enabled:
        df = with_engagement_index(df, cfg)
    documented = feature_column_comments(cfg)
    # Helper columns are "_"-prefixed; any other column is a feature and must be documented, never dropped silently.
    undocumented = sorted(c for c in df.columns if c not in documented and not c.startswith("_"))
    if undocumented:
        raise ValueError(
            f"feature columns without a data-dictionary entry (seglib/features/dictionary.py): {undocumented}"
        )
    columns = [c for c in documented if c in df.columns]
    return FeatureSet(
        features=df.select(*columns),
        rfm_thresholds=rfm_thresholds if cfg.rfm.enabled else None,
        text_engine=text_engine,
        text_model=text_model,
    )


def build_features(
    silver: Mapping[str, DataFrame], cfg: FeaturesConfig, as_of: date, *, required_consent: str
) -> DataFrame:
    """The feature table for ``as_of`` (see :func:`build_feature_set` for the RFM thresholds of the run)."""
    return build_feature_set(silver, cfg, as_of, required_consent=required_consent).features
