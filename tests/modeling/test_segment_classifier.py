"""The segment classifier: learnt on separable segments and judged on a hash holdout, sparse subjects assigned or sent
to the fallback (low confidence, unusable or no classifier), identical refits, and a registry round trip."""

from __future__ import annotations

import dataclasses

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from seglib.config import MlflowConfig, SeglibConfig, WarehouseConfig
from seglib.config.segments import ClassifierConfig, SegmentsConfig
from seglib.modeling import segment_classifier as SC
from seglib.run_types import ModelRegistration

FEATURES = ["x1", "x2", "x3"]
CFG = ClassifierConfig(num_trees=15, max_depth=4, holdout_fraction=0.25, confidence_threshold=0.6)
CENTRES = {"S001": (0.0, 0.0, 0.0), "S002": (10.0, 0.0, 5.0), "S003": (0.0, 10.0, 10.0)}
ASSIGNED = "subject_id string, segment_id string, confidence double, assignment_source string"
# Two one-member segments: with holdout_fraction 0.25 the hash of their values holds out "solo-3" (a class the
# training part never saw) and keeps "solo-0" for training (a class of one row). Checked in the first test.
SOLOS = [("solo-3", -20.0, -20.0, -20.0, "S004"), ("solo-0", 20.0, 20.0, 30.0, "S005")]


def _labelled_rows() -> list[tuple]:
    """30 subjects per segment around its centre (jitter below 0.6), x2 null for every fourth one."""
    rows = []
    for segment, (c1, c2, c3) in CENTRES.items():
        for i in range(30):
            x2 = None if i % 4 == 0 else c2 + ((i * 5) % 11 - 5) / 10
            rows.append((f"{segment}-{i:02d}", c1 + ((i * 7) % 11 - 5) / 10, x2, c3 + ((i * 3) % 7 - 3) / 10, segment))
    return rows + SOLOS


LABELLED_SCHEMA = "subject_id string, x1 double, x2 double, x3 double, segment_id string"


@pytest.fixture(scope="module")
def labelled(spark):
    return spark.createDataFrame(_labelled_rows(), LABELLED_SCHEMA)


@pytest.fixture(scope="module")
def fitted(labelled):
    return SC.fit_segment_classifier(labelled, FEATURES, CFG)


@pytest.fixture(scope="module")
def sparse(spark):
    """Subjects at each centre (one without x2), one without any feature (all imputed), one that looks like S002 on
    x1 and like S003 on x2 and x3 (trees that split on different features disagree)."""
    rows = [
        ("near-1", 0.1, 0.2, -0.1),
        ("near-2", 9.8, None, 5.1),
        ("near-3", 0.3, 10.2, 9.7),
        ("empty", None, None, None),
        ("mixed", 10.0, 10.0, 10.0),
    ]
    return spark.createDataFrame(rows, "subject_id string, x1 double, x2 double, x3 double")


def test_separable_segments_are_learnt_and_judged_on_a_fixed_holdout(labelled, fitted):
    held = {
        r.subject_id
        for r in labelled.where(SC.in_holdout(CFG.holdout_fraction, FEATURES)).select("subject_id").collect()
    }
    assert "solo-3" in held and "solo-0" not in held  # the premise of SOLOS
    assert fitted.classes == ["S001", "S002", "S003", "S005"]  # sorted; S004 was only held out
    assert fitted.feature_cols == FEATURES
    m = fitted.metrics
    assert (m["holdout_rows"], m["training_rows"]) == (len(held), 92 - len(held))
    assert 15 <= len(held) <= 35  # about a quarter of 92
    # Every held-out subject of the three segments is right; solo-3 (an unseen segment) is the one miss.
    assert m["accuracy"] == pytest.approx((len(held) - 1) / len(held))
    # Macro F1 over S001..S004: S004 is never predicted (F1 0), the segment solo-3 was taken for has one false
    # positive (F1 2n / (2n + 1) with n of its members held out), the other two are perfect.
    assert 0.7 < m["f1_macro"] < 0.75
    assert 0.9 <= m["coverage"] <= 1.0 and m["accuracy_covered"] >= m["accuracy"]
    assert fitted.usable and "holdout accuracy" in fitted.reason


def test_sparse_subjects_get_the_predicted_segment_or_the_fallback_below_the_threshold(spark, fitted, sparse):
    out = SC.classify_sparse(fitted, sparse, 0.0, "S000").cache()  # threshold 0: every subject by the classifier
    confident = out.where(F.col("subject_id").startswith("near"))
    expected = spark.createDataFrame(
        [("near-1", "S001", "classifier"), ("near-2", "S002", "classifier"), ("near-3", "S003", "classifier")],
        "subject_id string, segment_id string, assignment_source string",
    )
    assert_df_equality(confident.drop("confidence"), expected, ignore_row_order=True, ignore_nullable=True)
    confidence = {r.subject_id: r.confidence for r in out.collect()}
    assert all(confidence[f"near-{i}"] > 0.7 for i in (1, 2, 3))
    assert all(0.0 < c <= 1.0 for c in confidence.values())

    # A threshold between the lowest confidence and the others: that subject alone goes to the fallback, keeping
    # the probability that was refused; a confidence equal to the threshold is enough (>=).
    lowest = min(confidence, key=confidence.get)
    threshold = min(c for s, c in confidence.items() if s != lowest)
    assert confidence[lowest] < threshold  # no tie at the bottom
    thresholded = SC.classify_sparse(fitted, sparse, threshold, "S000")
    expected = out.select(
        "subject_id",
        F.when(F.col("subject_id") == lowest, F.lit("S000")).otherwise(F.col("segment_id")).alias("segment_id"),
        "confidence",
        F.when(F.col("subject_id") == lowest, F.lit("fallback")).otherwise(F.lit("classifier")).alias(SC.SOURCE),
    )
    assert_df_equality(thresholded, expected, ignore_row_order=True, ignore_nullable=True)
    assert lowest in {"mixed", "empty"}  # not a subject at a centre
    out.unpersist()


def test_the_verdict_needs_the_gate_on_the_holdout_and_holdout_rows():
    from seglib.config.segments import ClassifierConfig

    gate = ClassifierConfig().registry.champion_gate  # the default: accuracy >= 0.5, not against the champion
    assert SC.verdict({"accuracy": 0.5, "holdout_rows": 20.0}, gate) == (
        True,
        "holdout accuracy 0.500 passes segments.classifier.registry.champion_gate",
    )
    assert SC.verdict({"accuracy": 0.34, "holdout_rows": 20.0}, gate) == (
        False,
        "holdout accuracy=0.3400 beyond the limit 0.5 (segments.classifier.registry.champion_gate)",
    )
    usable, reason = SC.verdict({"accuracy": float("nan"), "holdout_rows": 0.0}, gate)
    assert not usable and "cannot be judged" in reason


def test_nothing_left_for_training_is_refused(labelled):
    only_held_out = labelled.where(SC.in_holdout(CFG.holdout_fraction, FEATURES))
    with pytest.raises(SC.SegmentClassifierError, match="no clustered subject left for training"):
        SC.fit_segment_classifier(only_held_out, FEATURES, CFG)


def test_no_classifier_or_an_unusable_one_sends_everyone_to_the_fallback(spark, fitted, sparse):
    ids = ["near-1", "near-2", "near-3", "empty", "mixed"]
    expected = spark.createDataFrame([(s, "S000", None, "fallback") for s in ids], ASSIGNED)
    for fit in (None, dataclasses.replace(fitted, usable=False)):
        assert_df_equality(
            SC.classify_sparse(fit, sparse, 0.5, "S000"), expected, ignore_row_order=True, ignore_nullable=True
        )


def test_a_fit_on_the_same_rows_in_another_order_and_under_another_key_predicts_the_same(labelled, fitted, sparse):
    """Other pseudonyms (another pseudonymization key) and another input order: the same holdout, the same model."""
    other_key = F.sha2(F.concat(F.lit("another key:"), "subject_id"), 256)
    rekeyed = labelled.withColumn("subject_id", other_key).repartition(3).orderBy(F.xxhash64("subject_id", F.lit(7)))
    again = SC.fit_segment_classifier(rekeyed, FEATURES, CFG)
    assert again.metrics == fitted.metrics and again.classes == fitted.classes
    everyone = sparse.unionByName(labelled.drop("segment_id"))
    assert_df_equality(
        SC.classify_sparse(again, everyone, 0.6, "S000"),
        SC.classify_sparse(fitted, everyone, 0.6, "S000"),
        ignore_row_order=True,
    )


def test_registry_round_trip_predicts_like_the_fitted_model(spark, fitted, sparse, tmp_path_factory):
    """Logged into the active run with its signature, registered, usable so champion, loaded by alias: the same
    assignments."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient
    from mlflow.models import get_model_info

    from seglib.tracking import log_segment_classifier, segment_classifier_model_name, setup_mlflow

    cfg = SeglibConfig(
        warehouse=WarehouseConfig(path=str(tmp_path_factory.mktemp("classifier_mlflow") / "warehouse")),
        mlflow=MlflowConfig(experiment="segment-classifier-test"),
        segments=SegmentsConfig(classifier=CFG),
    )
    setup_mlflow(cfg)
    with mlflow.start_run() as run:
        logged = log_segment_classifier(cfg, fitted, "seglib_clustering/3")
    name = segment_classifier_model_name(cfg)
    assert name == "seglib_segment_classifier"
    assert logged == ModelRegistration(name, "1", "champion", fitted.reason, run.info.run_id)
    data = MlflowClient().get_run(run.info.run_id).data
    assert data.metrics["segment_classifier.accuracy"] == pytest.approx(fitted.metrics["accuracy"])
    assert data.params["segment_classifier.cluster_model"] == "seglib_clustering/3"
    assert data.params["segment_classifier.features"] == "x1,x2,x3"
    assert MlflowClient().get_model_version(name, "1").tags["seglib.cluster_model"] == "seglib_clustering/3"
    uri = f"models:/{name}@champion"
    assert get_model_info(uri).signature.inputs.input_names() == FEATURES
    loaded = dataclasses.replace(fitted, model=mlflow.spark.load_model(uri))
    assert_approx_df_equality(
        SC.classify_sparse(loaded, sparse, 0.6, "S000"),
        SC.classify_sparse(fitted, sparse, 0.6, "S000"),
        precision=1e-12,
        ignore_row_order=True,
    )
