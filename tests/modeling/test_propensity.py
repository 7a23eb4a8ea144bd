"""Propensity: labels, the leakage check, tiers, holdout metrics, and one fit logged to a real MLflow registry."""

from __future__ import annotations

from datetime import date

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F

from seglib.config import MlflowConfig, SeglibConfig, WarehouseConfig
from seglib.config.propensity import GbtGrid, PropensityConfig, TargetConfig
from seglib.modeling import propensity as P

CUTOFF = date(2024, 3, 1)
PCFG = PropensityConfig(
    features=["x1", "x2", "noise"],
    grid=GbtGrid(max_depth=[2, 3], max_iter=[10], step_size=[0.3], min_instances_per_node=[5], subsampling_rate=[0.8]),
    num_folds=2,
    min_positives=5,
)


@pytest.mark.parametrize("bad", [{"max_depth": []}, {"subsampling_rate": [0.0]}, {"min_instances_per_node": [0]}])
def test_gbt_grid_refuses_empty_lists_and_out_of_range_values(bad):
    with pytest.raises(ValueError, match=r"propensity\.grid"):
        GbtGrid(**bad)


def test_cutoffs_keep_every_training_label_window_before_the_holdout():
    cfg = PropensityConfig(training_snapshots=3, snapshot_step_days=30)
    cutoffs = P.cutoffs_for(date(2026, 11, 1), TargetConfig(kind="purchase", window_days=30), cfg)
    assert cutoffs.holdout == date(2026, 10, 2)  # its window [10-02, 11-01) closes at the scored snapshot
    assert cutoffs.training == (date(2026, 7, 4), date(2026, 8, 3), date(2026, 9, 2))  # last window ends 10-02


@pytest.fixture(scope="module")
def population(spark):
    return spark.createDataFrame([("buyer",), ("late",), ("early",), ("idle",), ("gone",)], "subject_id string")


def test_purchase_label_is_a_completed_order_inside_the_window(spark, population):
    orders = spark.createDataFrame(
        [
            ("buyer", "2024-03-01 00:00:00", "completed"),  # at the cut-off: inside [cut-off, +7 days)
            ("late", "2024-03-08 00:00:00", "completed"),  # at the window's end: outside
            ("early", "2024-02-29 23:59:59", "completed"),  # before the cut-off: a feature, never a label
            ("idle", "2024-03-02 00:00:00", "refunded"),  # not completed
        ],
        "subject_id string, order_ts string, status string",
    ).withColumn("order_ts", F.to_timestamp("order_ts"))
    out = P.purchase_labels(population, orders, CUTOFF, 7)
    expected = spark.createDataFrame(
        [("buyer", 1.0), ("late", 0.0), ("early", 0.0), ("idle", 0.0), ("gone", 0.0)], "subject_id string, label double"
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_churn_label_is_no_activity_after_among_the_recently_active(spark, population):
    events = spark.createDataFrame(
        [
            ("buyer", "2024-02-20 10:00:00"),  # active before ...
            ("late", "2024-02-25 10:00:00"),
            ("late", "2024-03-05 10:00:00"),  # ... and after: stayed
            ("idle", "2023-10-01 10:00:00"),  # last seen long before the 90 days: not in the churn population
            ("gone", "2024-02-28 10:00:00"),  # active before, nothing after: churned
        ],
        "subject_id string, event_ts string",
    ).withColumn("event_ts", F.to_timestamp("event_ts"))
    orders = spark.createDataFrame(
        [("buyer", "2024-03-03 00:00:00", "completed")], "subject_id string, order_ts string, status string"
    ).withColumn("order_ts", F.to_timestamp("order_ts"))  # an order after the cut-off is activity too
    out = P.churn_labels(population, events, orders, CUTOFF, days=30, activity_days=90)
    expected = spark.createDataFrame([("buyer", 0.0), ("late", 0.0), ("gone", 1.0)], "subject_id string, label double")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


PLANS = ["free", "basic", "premium", "enterprise"]


@pytest.fixture(scope="module")
def plan_history(spark):
    """subject_id, plan, valid_from, valid_to, is_deleted: CRM states around the 2024-03-01 cut-off."""
    rows = [
        ("up", "free", "2024-01-01 00:00:00", "2024-03-05 00:00:00", False),
        ("up", "premium", "2024-03-05 00:00:00", None, False),  # two plans up inside [cut-off, +7 days)
        ("down", "premium", "2024-01-01 00:00:00", "2024-03-02 00:00:00", False),
        ("down", "basic", "2024-03-02 00:00:00", None, False),
        ("later", "basic", "2024-01-01 00:00:00", "2024-03-08 00:00:00", False),
        ("later", "premium", "2024-03-08 00:00:00", None, False),  # at the window's end: outside
        ("top", "enterprise", "2024-01-01 00:00:00", None, False),  # cannot upgrade: not in the frame
        ("past", "free", "2024-01-01 00:00:00", "2024-02-01 00:00:00", False),
        ("past", "basic", "2024-02-01 00:00:00", None, False),  # upgraded before the cut-off: a feature, not a label
        ("new", "free", "2024-03-03 00:00:00", None, False),  # created after the cut-off: no plan then
        ("gone", "free", "2024-01-01 00:00:00", "2024-02-15 00:00:00", False),
        ("gone", None, "2024-02-15 00:00:00", None, True),  # deleted before the cut-off
    ]
    return spark.createDataFrame(
        rows, "subject_id string, plan string, valid_from string, valid_to string, is_deleted boolean"
    ).select(
        "subject_id",
        "plan",
        F.to_timestamp("valid_from").alias("valid_from"),
        F.to_timestamp("valid_to").alias("valid_to"),
        "is_deleted",
    )


def test_upgrade_label_is_a_higher_plan_inside_the_window(spark, plan_history):
    everyone = plan_history.select("subject_id").distinct()
    out = P.upgrade_labels(everyone, plan_history, CUTOFF, 7, PLANS)
    expected = spark.createDataFrame(
        [("up", 1.0), ("down", 0.0), ("later", 0.0), ("past", 0.0)], "subject_id string, label double"
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    target = TargetConfig(kind="upgrade", window_days=7)
    with pytest.raises(P.PropensityError, match="plan order"):
        P.labels_for(target, PCFG, everyone, {"customers_history": plan_history}, CUTOFF)


def test_crm_attributes_as_of_the_cutoff_pass_the_leakage_check_and_current_ones_fail(spark, plan_history):
    from seglib.features.profile import customers_as_of, plan_tier

    silver = {"customers_history": plan_history.withColumn("is_current", F.col("valid_to").isNull())}

    def as_of_cutoff(facts, cutoff):  # the feature stage's reading of the history
        history = facts["customers_history"]
        return customers_as_of(history, cutoff).select("subject_id", plan_tier(F.col("plan"), PLANS).alias("tier"))

    def current(facts, cutoff):  # the CRM's current plan, whatever the cut-off
        history = facts["customers_history"].where("is_current AND NOT is_deleted")
        return history.select("subject_id", plan_tier(F.col("plan"), PLANS).alias("tier"))

    assert P.leaked_features(as_of_cutoff, silver, CUTOFF, ["tier"]) == {}
    # up, down and later changed plan after the cut-off; new only exists after it.
    assert P.leaked_features(current, silver, CUTOFF, ["tier"]) == {"tier": 4}


def test_a_feature_built_from_after_the_cutoff_is_caught(spark):
    events = spark.createDataFrame(
        [("a", "2024-02-10 00:00:00"), ("a", "2024-03-10 00:00:00"), ("b", "2024-02-11 00:00:00")],
        "subject_id string, event_ts string",
    ).withColumn("event_ts", F.to_timestamp("event_ts"))
    silver = {"events": events}

    def honest(facts, cutoff):
        past = facts["events"].where(F.col("event_ts") < F.lit(str(cutoff)).cast("timestamp"))
        return past.groupBy("subject_id").agg(F.count("*").alias("events"))

    def leaky(facts, cutoff):  # counts every event, including those after the cut-off
        return facts["events"].groupBy("subject_id").agg(F.count("*").alias("events"))

    assert P.leaked_features(honest, silver, CUTOFF, ["events"]) == {}
    assert P.leaked_features(leaky, silver, CUTOFF, ["events"]) == {"events": 1}  # subject a: 2 vs 1
    with pytest.raises(P.LeakageError, match=r"change when the data after it is removed.*'events': 1"):
        P.check_no_leakage(leaky, silver, CUTOFF, ["events"])


def test_tiers_by_score_quantiles_highest_first(spark):
    scores = spark.range(100).select(F.col("id").cast("string").alias("subject_id"), (F.col("id") / 100).alias("score"))
    thresholds = P.tier_thresholds(scores, PropensityConfig(tier_quantiles={"high": 0.9, "medium": 0.6}), "score")
    assert thresholds == pytest.approx({"high": 0.89, "medium": 0.59})  # the 90th and 60th of 0.00 .. 0.99
    sizes = {
        r.tier: r["count"] for r in scores.select(P.tier_of(F.col("score"), thresholds).alias("tier"))
        .groupBy("tier").count().collect()
    }  # fmt: skip
    assert sizes == {"high": 10, "medium": 30, "low": 60}


def test_holdout_metrics_and_calibration_table(spark):
    # 10 deciles of 10 rows; decile d (1..10) scores d/10 and holds d-1 positives.
    rows = [(f"{d}-{i}", d / 10 - 0.001 * i, 1.0 if i < d - 1 else 0.0) for d in range(1, 11) for i in range(10)]
    df = spark.createDataFrame(rows, "subject_id string, score double, label double")
    m = P.evaluate(df)
    assert m.rows == 100 and m.base_rate == pytest.approx(0.45)
    assert [r["n"] for r in m.calibration] == [10] * 10
    assert [r["positive_rate"] for r in m.calibration] == pytest.approx([d / 10 for d in range(10)])
    assert m.lift_top_decile == pytest.approx(0.9 / 0.45)
    assert m.capture_top_decile == pytest.approx(9 / 45)
    expected_brier = sum((s - y) ** 2 for _, s, y in rows) / len(rows)
    assert m.brier == pytest.approx(expected_brier)
    assert 0.5 < m.roc_auc <= 1.0


def test_balanced_class_weights_give_each_class_half_the_weight(spark):
    df = spark.createDataFrame([(1.0,)] * 2 + [(0.0,)] * 8, "label double")
    weighted, weights = P.with_class_weights(df, PropensityConfig())
    assert weights == pytest.approx({"positive": 2.5, "negative": 0.625})
    totals = {r.label: r.w for r in weighted.groupBy("label").agg(F.sum("weight").alias("w")).collect()}
    assert totals == pytest.approx({1.0: 5.0, 0.0: 5.0})


@pytest.fixture(scope="module")
def fitted(spark):
    """A label that needs an interaction (x1 and x2 of the same sign): trees find it, a linear model cannot."""
    data = spark.range(1200).select(
        (F.col("id") % 4).alias("_cut"),
        (F.rand(1) * 2 - 1).alias("x1"),
        (F.rand(2) * 2 - 1).alias("x2"),
        F.rand(3).alias("noise"),
        F.col("id").cast("string").alias("subject_id"),
    )
    data = data.withColumn("label", F.when(F.col("x1") * F.col("x2") > 0, 1.0).otherwise(0.0))
    cutoffs = P.Cutoffs(training=(date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)), holdout=date(2024, 4, 1))
    data = data.withColumn(
        "snapshot_date", F.element_at(F.array(*[F.lit(c) for c in cutoffs.training]), F.col("_cut").cast("int") + 1)
    )
    train, holdout = data.where("_cut < 3"), data.where("_cut = 3")
    return P.fit_target("toy", train, holdout, cutoffs, PCFG), holdout, train, cutoffs


def test_gbt_beats_the_linear_baseline_on_an_interaction_and_is_published(fitted):
    fit, *_ = fitted
    assert fit.model_kind == "gbt"
    assert fit.gbt.roc_auc > 0.9 > 0.7 > fit.baseline.roc_auc
    assert fit.validation == "out_of_time" and len(fit.validation_roc_auc) == 2 and fit.best_params["max_iter"] == 10
    assert (fit.best_params["min_instances_per_node"], fit.best_params["subsampling_rate"]) == (5, 0.8)
    assert max(fit.importances, key=fit.importances.get) in {"x1", "x2"}
    assert fit.importances["noise"] < min(fit.importances["x1"], fit.importances["x2"])


def test_the_grid_setting_is_chosen_on_the_latest_training_cut_off_by_fits_on_the_earlier_ones(fitted):
    """Out of time: each setting fitted on the cut-offs before the latest, judged by ROC-AUC on the latest (an
    independent fit of each setting gives the same figures); the calibrator reuses the chosen setting's fit."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    _, _, train, cutoffs = fitted
    weighted, _ = P.with_class_weights(train, PCFG)
    pipeline, gbt = P.gbt_pipeline(PCFG.features, PCFG)
    grid = [{gbt.maxDepth: 1, gbt.maxIter: 3}, {gbt.maxDepth: 3, gbt.maxIter: 10}]
    selection = P.select_setting(pipeline, grid, weighted, PCFG.model_copy(update={"parallelism": 2}))
    latest = F.col("snapshot_date") == F.lit(cutoffs.training[-1])
    judge = BinaryClassificationEvaluator(labelCol=P.LABEL, rawPredictionCol="rawPrediction")
    expected = [
        judge.evaluate(pipeline.fit(weighted.where(~latest), p).transform(weighted.where(latest))) for p in grid
    ]
    assert selection.method == "out_of_time"
    assert selection.roc_auc == pytest.approx(expected)
    assert selection.index == 1 and expected[1] > expected[0]  # depth 1 cannot express the interaction
    assert selection.validation.count() == weighted.where(latest).count()


def test_one_training_cut_off_chooses_by_cross_validation_and_a_one_setting_grid_fits_nothing_to_choose(fitted):
    _, _, train, cutoffs = fitted
    one_cutoff = train.where(F.col("snapshot_date") == F.lit(cutoffs.training[0]))
    weighted, _ = P.with_class_weights(one_cutoff, PCFG)
    pipeline, gbt = P.gbt_pipeline(PCFG.features, PCFG)
    grid = [{gbt.maxDepth: 1, gbt.maxIter: 3}, {gbt.maxDepth: 3, gbt.maxIter: 10}]
    crossed = P.select_setting(pipeline, grid, weighted, PCFG)
    assert (crossed.method, crossed.index, len(crossed.roc_auc)) == ("cross_validation", 1, 2)
    assert crossed.earlier_model is None
    single = P.select_setting(pipeline, grid[:1], weighted, PCFG)
    assert (single.method, single.index, single.roc_auc, single.earlier_model) == ("single_setting", 0, [], None)


def test_a_feature_unknown_before_the_latest_training_cut_off_is_dropped_not_imputed_from_nothing(fitted):
    """BTYD columns are null at a cut-off with too few buyers: the fits on the earlier cut-offs have no value to
    impute them from, so the feature is left out (with its reason) instead of failing the target."""
    _, holdout, train, cutoffs = fitted
    late_only = F.when(F.col("snapshot_date") == F.lit(cutoffs.training[-1]), F.col("noise"))
    cfg = PCFG.model_copy(update={"features": [*PCFG.features, "late"]})
    fit = P.fit_target(
        "toy", train.withColumn("late", late_only), holdout.withColumn("late", F.col("noise")), cutoffs, cfg
    )
    assert fit.dropped_features == {"late": f"0 known values before the latest training cut-off {cutoffs.training[-1]}"}
    assert fit.columns == PCFG.features and fit.validation == "out_of_time"


def test_isotonic_calibration_maps_weighted_scores_back_to_rates(spark):
    """Balanced weights make a 10%-positive class look like 50%; the out-of-time isotonic map undoes that."""
    data = spark.range(3000).select(
        F.element_at(
            F.array(F.lit(date(2024, 1, 1)), F.lit(date(2024, 2, 1))), (F.col("id") % 2 + 1).cast("int")
        ).alias("snapshot_date"),
        F.rand(4).alias("x1"),
        F.rand(5).alias("x2"),
        F.rand(6).alias("noise"),
    )
    data = data.withColumn("label", F.when(F.col("x1") + 0.3 * F.rand(7) > 0.95, 1.0).otherwise(0.0))
    weighted, _ = P.with_class_weights(data, PCFG)
    pipeline, gbt = P.gbt_pipeline(PCFG.features, PCFG)
    params = {gbt.maxDepth: 2, gbt.maxIter: 10}
    calibrator = P.fit_calibrator(pipeline, params, weighted)
    model = pipeline.fit(weighted, params)
    latest = weighted.where(F.col("snapshot_date") == F.lit(date(2024, 2, 1)))
    raw = P.scored(model, latest).agg(F.avg(P.SCORE)).first()[0]
    calibrated = P.scored(PipelineModel(stages=[*model.stages, calibrator]), latest)
    row = calibrated.agg(F.avg(P.SCORE).alias("score"), F.avg(P.LABEL).alias("rate")).first()
    assert raw > 0.2 > row.rate
    assert row.score == pytest.approx(row.rate, abs=0.01)


def test_registry_round_trip_scores_like_the_fitted_model(spark, fitted, tmp_path_factory):
    """Logged with its signature, registered, gated to champion, loaded by alias: the same scores."""
    import mlflow

    from seglib.run_types import RunContext
    from seglib.tracking import load_by_alias, log_propensity, setup_mlflow

    fit, holdout, *_ = fitted
    cfg = SeglibConfig(
        warehouse=WarehouseConfig(path=str(tmp_path_factory.mktemp("mlflow") / "warehouse")),
        mlflow=MlflowConfig(experiment="propensity-test"),
        propensity=PCFG,
    )
    setup_mlflow(cfg)
    with mlflow.start_run():
        logged = log_propensity(cfg, RunContext.create(date(2024, 5, 1), "t"), fit, "seglib_propensity_toy")
    assert logged.alias == "champion"
    model, inputs, version = load_by_alias("seglib_propensity_toy")
    assert (inputs, version) == (fit.columns, logged.model_version)
    expected = P.scored(fit.model, holdout).select("subject_id", P.SCORE)
    actual = P.scored(model, holdout.select("subject_id", *inputs)).select("subject_id", P.SCORE)
    assert_approx_df_equality(actual, expected, precision=1e-12, ignore_row_order=True)


def test_another_pseudonymization_key_and_input_order_fit_the_same_model(fitted):
    """Same data + config -> same model whatever the key: the folds and the GBT's row sampling follow the rows'
    values (seglib.modeling.row_order), not the pseudonyms."""
    fit, holdout, train, cutoffs = fitted
    other_key = F.sha2(F.concat(F.lit("another key:"), "subject_id"), 256)
    rekeyed = train.withColumn("subject_id", other_key).repartition(5).orderBy("subject_id")
    again = P.fit_target("toy", rekeyed, holdout.withColumn("subject_id", other_key), cutoffs, PCFG)
    # Equal up to float rounding (the evaluators and L-BFGS sum in partition order), with the same chosen parameters.
    assert again.best_params == fit.best_params
    assert again.validation_roc_auc == pytest.approx(fit.validation_roc_auc)
    assert again.importances == pytest.approx(fit.importances)
    for model in ("gbt", "baseline"):
        mine, theirs = getattr(again, model), getattr(fit, model)
        assert (mine.roc_auc, mine.pr_auc, mine.brier) == pytest.approx((theirs.roc_auc, theirs.pr_auc, theirs.brier))


def test_a_feature_with_too_few_known_values_for_a_partial_fit_is_dropped(spark):
    # 19 known values (one of them NaN, which counts as unknown) and 30 known: only the first is too sparse for the
    # imputer of a fit on part of the rows (BTYD columns on a tiny history are mostly null).
    rows = [(float(i) if i < 20 else None, float(i)) for i in range(30)]
    rows[0] = (float("nan"), 0.0)
    df = spark.createDataFrame(rows, "sparse double, dense double")
    assert P._too_sparse(df, ["sparse", "dense"], "in the folds") == {"sparse": "19 known values in the folds"}
