import math

import pytest
from chispa import assert_approx_df_equality
from pyspark.ml import Pipeline, PipelineModel

from seglib.config.modeling import ClusteringConfig
from seglib.modeling.feature_space import FeatureColumns, feature_space_stages
from seglib.modeling.smoothing import ShareSmoother, ShareSmootherModel


@pytest.fixture(scope="module")
def shares(spark):
    # population share of subjects with events: (1.0 + 0.0 + 0.5) / 3 = 0.5; the 0-event rows do not count
    rows = [("none", 0, None), ("zero_placeholder", 0, 0.0), ("one", 1, 1.0), ("nine", 9, 0.0), ("two", 2, 0.5)]
    return spark.createDataFrame(rows, "subject_id string, events long, share double")


def test_share_smoother_pulls_few_event_shares_to_the_population_share(spark, shares, tmp_path):
    smoother = ShareSmoother(inputCols=["share"], outputCols=["smoothed"], countCol="events", pseudoCount=1.0)
    model = smoother.fit(shares)
    assert model.getOrDefault(model.populationShares) == pytest.approx([0.5])
    path = str(tmp_path / "smoother")
    model.save(path)
    out = ShareSmootherModel.load(path).transform(shares).select("subject_id", "smoothed")
    expected = spark.createDataFrame(
        [
            ("none", 0.5),  # no events: the population share
            ("zero_placeholder", 0.5),  # a 0 standing in for "no events" is no evidence either
            ("one", (1 * 1.0 + 0.5) / 2),
            ("nine", (9 * 0.0 + 0.5) / 10),  # many events keep (nearly) their own share
            ("two", 0.5),
        ],
        "subject_id string, smoothed double",
    )
    assert_approx_df_equality(out, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True)


def test_zero_pseudo_count_keeps_shares_of_subjects_with_events(spark, shares):
    model = ShareSmoother(inputCols=["share"], outputCols=["smoothed"], countCol="events", pseudoCount=0.0).fit(shares)
    got = {r.subject_id: r.smoothed for r in model.transform(shares).collect()}
    assert got == {"none": 0.5, "zero_placeholder": 0.5, "one": 1.0, "nine": 0.0, "two": 0.5}


def test_logged_feature_keeps_nulls_for_the_median_imputation(spark, tmp_path):
    """A never-buyer's recency is unknown, not 0 days: log1p must not turn the null into log1p(0)."""
    df = spark.createDataFrame(
        [("a", 0.0), ("b", math.e - 1), ("c", math.e**2 - 1), ("never", None)], "subject_id string, recency double"
    )
    cfg = ClusteringConfig(features=["recency"], categorical_features=[], log_features=["recency"])
    model = Pipeline(stages=feature_space_stages(FeatureColumns(["recency"]), cfg)).fit(df)
    model.save(str(tmp_path / "space"))
    out = PipelineModel.load(str(tmp_path / "space")).transform(df).select("subject_id", "recency__imputed")
    expected = spark.createDataFrame(
        [("a", 0.0), ("b", 1.0), ("c", 2.0), ("never", 1.0)], "subject_id string, recency__imputed double"
    )
    assert_approx_df_equality(out, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True)
