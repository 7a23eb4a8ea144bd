"""Stage ``features``: one feature row per consenting subject for the snapshot."""

from __future__ import annotations

from pyspark.sql import SparkSession

from seglib.config import SeglibConfig
from seglib.delta_io import write_table
from seglib.run_types import FeaturesResult, RunContext
from seglib.stages.inputs import read_silver
from seglib.tables import Warehouse


def stage_features(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> FeaturesResult:
    """Silver -> one feature row per consenting subject for the snapshot date (replaces that snapshot only)."""
    from seglib.features import build_feature_set, feature_column_comments

    feature_set = build_feature_set(
        read_silver(spark, cfg), cfg.features, ctx.as_of, required_consent=cfg.privacy.required_consent
    )
    engine = feature_set.text_engine
    spec = Warehouse.of(cfg).spec(
        "features/subject_features",
        column_comments=feature_column_comments(cfg.features),
        **{"seglib.text_engine": engine},
    )
    write_table(
        feature_set.features, spec, mode="overwrite", replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}'"
    )
    thresholds = feature_set.rfm_thresholds.to_dict() if feature_set.rfm_thresholds is not None else None
    return FeaturesResult(spec.location, thresholds, engine, feature_set.text_model)
