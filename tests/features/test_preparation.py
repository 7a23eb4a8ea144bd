from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from seglib.config.features import PreparationConfig
from seglib.features.preparation import build_preparation_pipeline

FEATURES = ["frequency_365d", "monetary_365d", "is_b2b", "plan"]


@pytest.fixture(scope="module")
def frame(spark):
    return spark.createDataFrame(
        [
            ("a", 1, "10.00", True, "pro"),
            ("b", 3, None, False, "pro"),
            ("c", None, "30.00", None, "free"),
            ("d", 5, "50.00", False, None),
        ],
        "subject_id string, frequency_365d int, monetary_365d string, is_b2b boolean, plan string",
    ).withColumn("monetary_365d", F.col("monetary_365d").cast("decimal(18,2)"))


def test_imputation_indicators_and_mode(frame):
    cfg = PreparationConfig(scaler="minmax", one_hot=False)
    out = build_preparation_pipeline(FEATURES, cfg).fit(frame).transform(frame)
    got = {
        r.subject_id: r
        for r in out.select(
            "subject_id",
            "frequency_365d__imputed",
            "monetary_365d__imputed",
            "monetary_365d_was_missing",
            "is_b2b__imputed",
            "plan__mode",
        ).collect()
    }
    assert got["c"].frequency_365d__imputed == 3.0  # median of 1, 3, 5
    assert (got["b"].monetary_365d__imputed, got["b"].monetary_365d_was_missing) == (30.0, 1.0)
    assert got["a"].monetary_365d_was_missing == 0.0
    assert got["c"].is_b2b__imputed == 0.0
    assert got["d"].plan__mode == got["a"].plan__mode == 0.0  # null -> most frequent label "pro"
    assert got["c"].plan__mode == 1.0
    # 3 numeric + 3 indicators + 1 index, min-max scaled into [0, 1]
    values = [v for r in out.select(vector_to_array("features").alias("v")).collect() for v in r.v]
    assert len(values) == 4 * 7 and min(values) >= 0.0 and max(values) <= 1.0


def test_fitted_pipeline_saves_loads_and_gives_same_output(frame, tmp_path):
    cfg = PreparationConfig(scaler="standard", one_hot=True, pca_k=2)
    model = build_preparation_pipeline(FEATURES, cfg).fit(frame)
    model.write().overwrite().save(str(tmp_path / "prep"))
    loaded = PipelineModel.load(str(tmp_path / "prep"))

    def vectors(m):
        return m.transform(frame).select("subject_id", vector_to_array("features").alias("features"))

    assert_df_equality(vectors(model), vectors(loaded), ignore_row_order=True)
    assert len(vectors(loaded).first().features) == 2


def test_needs_a_feature_column():
    with pytest.raises(ValueError, match="at least one"):
        build_preparation_pipeline([], PreparationConfig())
