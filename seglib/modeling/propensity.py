"""Propensity models: will a subject buy / churn in the weeks after a snapshot? Gradient-boosted trees (MLlib
``GBTClassifier``) against a logistic-regression baseline, validated honestly in time.

Time layout, for a target with a label window of ``w`` days and the scoring snapshot ``as_of``:
- holdout cut-off ``h = as_of - w``: its label window ``[h, as_of)`` closes when the scored snapshot opens;
- training cut-offs ``h - w - i * step`` (``i = 0 .. training_snapshots - 1``): every training label window closes
  before the holdout's cut-off, so nothing the holdout is judged on was seen in training.
At every cut-off the features are the feature stage's point-in-time build (data strictly before 00:00 UTC of the
cut-off) and the labels come from strictly after it; :func:`leaked_features` checks this by rebuilding the features
from facts truncated at the cut-off.

Everything that reaches the driver is bounded: metric rows, k quantiles, decile tables, feature importances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import reduce
from multiprocessing.pool import ThreadPool
from typing import Any, cast

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassificationModel, GBTClassifier, LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Imputer, StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.regression import IsotonicRegression, IsotonicRegressionModel
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.propensity import PropensityConfig, TargetConfig
from seglib.errors import SeglibError
from seglib.features._time import before_cutoff, cutoff_ts, in_last_days
from seglib.features.profile import customers_as_of, plan_tier
from seglib.frames import first_row
from seglib.modeling.feature_space import inspect_features
from seglib.modeling.row_order import canonical_order, value_columns

log = logging.getLogger(__name__)

LABEL, WEIGHT, SCORE = "label", "weight", "score"
RAW_SCORE = "raw_score"  # the classifier's own probability: orders subjects within a calibrated score's steps
CALIBRATED = "calibrated_score"
VECTOR = "_propensity_features"
DECILES = 10
# Fact tables and the column that dates each row: what a cut-off truncates to rebuild features without the future.
# CRM attributes come from silver customers_history (SCD type 2), which a cut-off truncates too (see truncated_silver).
# Consents hold current state by design: a revocation removes the subject from every snapshot, past ones included.
FACT_TIME_COLUMNS = {"events": "event_ts", "orders": "order_ts", "texts": "created_at"}
HISTORY = "customers_history"


class PropensityError(SeglibError):
    """A propensity target cannot be trained as configured (too few positives, no labelled cut-off, ...)."""


class LeakageError(SeglibError):
    """A feature changes when the data after the cut-off is removed: it was built from the future."""


# ---------------------------------------------------------------------------------------------------- time layout


@dataclass(frozen=True)
class Cutoffs:
    training: tuple[date, ...]  # oldest first
    holdout: date


def cutoffs_for(as_of: date, target: TargetConfig, cfg: PropensityConfig) -> Cutoffs:
    """The holdout and training cut-offs of ``target`` for scoring at ``as_of`` (see the module doc)."""
    window = timedelta(days=target.window_days)
    holdout = as_of - window
    step = timedelta(days=cfg.snapshot_step_days)
    training = tuple(sorted(holdout - window - step * i for i in range(cfg.training_snapshots)))
    return Cutoffs(training, holdout)


def _in_window(ts: Column, cutoff: date, days: int) -> Column:
    """[cut-off 00:00 UTC, cut-off + days)."""
    return (ts >= cutoff_ts(cutoff)) & (ts < cutoff_ts(cutoff + timedelta(days=days)))


# ---------------------------------------------------------------------------------------------------- labels


def purchase_labels(population: DataFrame, orders: DataFrame, cutoff: date, days: int) -> DataFrame:
    """subject_id, label: 1 when the subject completes an order in [cut-off, cut-off + days), else 0."""
    buyers = (
        orders.where((F.col("status") == "completed") & _in_window(F.col("order_ts"), cutoff, days))
        .select("subject_id")
        .distinct()
        .withColumn("_bought", F.lit(1))
    )
    return population.join(buyers, "subject_id", "left").select(
        "subject_id", F.coalesce("_bought", F.lit(0)).cast("double").alias(LABEL)
    )


def _activity(events: DataFrame, orders: DataFrame) -> DataFrame:
    """(subject_id, ts) of every event and order: what counts as activity for churn."""
    return events.select("subject_id", F.col("event_ts").alias("ts")).unionByName(
        orders.select("subject_id", F.col("order_ts").alias("ts"))
    )


def churn_labels(
    population: DataFrame, events: DataFrame, orders: DataFrame, cutoff: date, days: int, activity_days: int
) -> DataFrame:
    """subject_id, label over the subjects active in the ``activity_days`` before the cut-off: 1 when they have no
    event and no order in [cut-off, cut-off + days), else 0. Inactive subjects are not in the frame (they cannot
    churn)."""
    activity = _activity(events, orders)
    active = activity.where(in_last_days(F.col("ts"), cutoff, activity_days)).select("subject_id").distinct()
    stayed = (
        activity.where(_in_window(F.col("ts"), cutoff, days))
        .select("subject_id")
        .distinct()
        .withColumn("_stayed", F.lit(1))
    )
    return (
        population.join(active, "subject_id", "left_semi")
        .join(stayed, "subject_id", "left")
        .select("subject_id", F.when(F.col("_stayed").isNull(), 1.0).otherwise(0.0).alias(LABEL))
    )


def upgrade_labels(
    population: DataFrame, history: DataFrame, cutoff: date, days: int, plan_order: Sequence[str]
) -> DataFrame:
    """subject_id, label over the subjects whose plan at the cut-off (CRM history) is known and below the highest of
    ``plan_order``: 1 when a CRM change in [cut-off, cut-off + days) puts them on a higher plan, else 0. Subjects on
    the top plan or without a plan then are not in the frame (they cannot upgrade)."""
    order = list(plan_order)
    tier = plan_tier(F.col("plan"), order)
    before = customers_as_of(history, cutoff).select("subject_id", tier.alias("_tier"))
    upgradable = before.where(F.col("_tier") < len(order) - 1)
    later = (
        history.where(_in_window(F.col("valid_from"), cutoff, days) & ~F.coalesce(F.col("is_deleted"), F.lit(False)))
        .groupBy("subject_id")
        .agg(F.max(tier).alias("_later"))
    )
    return (
        population.join(upgradable, "subject_id")
        .join(later, "subject_id", "left")
        .select("subject_id", F.when(F.col("_later") > F.col("_tier"), 1.0).otherwise(0.0).alias(LABEL))
    )


def labels_for(
    target: TargetConfig,
    cfg: PropensityConfig,
    population: DataFrame,
    silver: Mapping[str, DataFrame],
    cutoff: date,
    plan_order: Sequence[str] = (),
) -> DataFrame:
    """The target's labels at ``cutoff``; ``plan_order`` (lowest first) is what ``upgrade`` means by higher."""
    if target.kind == "purchase":
        return purchase_labels(population, silver["orders"], cutoff, target.window_days)
    if target.kind == "upgrade":
        if len(plan_order) < 2:
            raise PropensityError("an upgrade target needs the plan order (features.demographics.plan_order)")
        return upgrade_labels(population, silver[HISTORY], cutoff, target.window_days, plan_order)
    return churn_labels(population, silver["events"], silver["orders"], cutoff, target.window_days, cfg.activity_days)


# ---------------------------------------------------------------------------------------------------- leakage


def history_at(history: DataFrame, cutoff: date) -> DataFrame:
    """The SCD type 2 history as it stood at the cut-off: rows that started before it, a row closed later open
    again."""
    closed_before = before_cutoff(F.col("valid_to"), cutoff)
    return (
        history.where(before_cutoff(F.col("valid_from"), cutoff))
        .withColumn("valid_to", F.when(closed_before, F.col("valid_to")))
        .withColumn("is_current", F.col("valid_to").isNull())
    )


def truncated_silver(silver: Mapping[str, DataFrame], cutoff: date) -> dict[str, DataFrame]:
    """Silver as it was at the cut-off: fact rows strictly before it, the customers history as it stood then
    (consents and the current-state tables as they are)."""
    out = {}
    for name, df in silver.items():
        if name in FACT_TIME_COLUMNS:
            out[name] = df.where(before_cutoff(F.col(FACT_TIME_COLUMNS[name]), cutoff))
        elif name == HISTORY:
            out[name] = history_at(df, cutoff)
        else:
            out[name] = df
    return out


def leaked_features(
    build: Callable[[Mapping[str, DataFrame], date], DataFrame],
    silver: Mapping[str, DataFrame],
    cutoff: date,
    columns: list[str],
    built: DataFrame | None = None,
) -> dict[str, int]:
    """Column -> subjects whose value differs when ``build`` sees only the facts before ``cutoff`` (empty: no
    leakage). A subject present in one build only counts against every column. One aggregation. ``built``: the
    build on all of ``silver``, when the caller already has it."""
    full = (build(silver, cutoff) if built is None else built).select("subject_id", *columns)
    past = build(truncated_silver(silver, cutoff), cutoff).select(
        "subject_id", *[F.col(c).alias(f"_past_{c}") for c in columns]
    )
    joined = full.withColumn("_in_full", F.lit(True)).join(
        past.withColumn("_in_past", F.lit(True)), "subject_id", "full"
    )
    one_side = F.col("_in_full").isNull() | F.col("_in_past").isNull()
    row = first_row(
        joined.agg(
            *[
                F.sum(F.when(one_side | ~F.col(c).eqNullSafe(F.col(f"_past_{c}")), 1).otherwise(0)).alias(c)
                for c in columns
            ]
        )
    )
    return {c: int(row[c] or 0) for c in columns if row[c]}


def check_no_leakage(
    build: Callable[[Mapping[str, DataFrame], date], DataFrame],
    silver: Mapping[str, DataFrame],
    cutoff: date,
    columns: list[str],
    built: DataFrame | None = None,
) -> None:
    leaked = leaked_features(build, silver, cutoff, columns, built)
    if leaked:
        raise LeakageError(
            f"features built at cut-off {cutoff} change when the data after it is removed (subjects per column): "
            f"{leaked}"
        )


# ---------------------------------------------------------------------------------------------------- training set


def labelled_snapshot(
    features: DataFrame,
    target: TargetConfig,
    cfg: PropensityConfig,
    silver: Mapping[str, DataFrame],
    cutoff: date,
    columns: list[str],
    plan_order: Sequence[str] = (),
) -> DataFrame:
    """One cut-off's rows: subject_id, snapshot_date, the feature columns, label."""
    population = features.select("subject_id")
    labelled = labels_for(target, cfg, population, silver, cutoff, plan_order)
    return (
        features.select("subject_id", *columns).join(labelled, "subject_id").withColumn("snapshot_date", F.lit(cutoff))
    )


def with_class_weights(
    df: DataFrame, cfg: PropensityConfig, counts: tuple[int, int] | None = None
) -> tuple[DataFrame, dict[str, float]]:
    """``weight`` per row: balanced = each class weighs half of the set (n / (2 n_class)); none = 1. ``counts``:
    (positives, negatives) when the caller already has them, else one aggregation."""
    if counts is None:
        by_label = {int(r[LABEL]): r["n"] for r in df.groupBy(LABEL).agg(F.count("*").alias("n")).collect()}
        counts = (by_label.get(1, 0), by_label.get(0, 0))
    positives, negatives = counts
    if cfg.class_weights == "none" or not positives or not negatives:
        return df.withColumn(WEIGHT, F.lit(1.0)), {"positive": 1.0, "negative": 1.0}
    total = positives + negatives
    weights = {"positive": total / (2 * positives), "negative": total / (2 * negatives)}
    return (
        df.withColumn(WEIGHT, F.when(F.col(LABEL) == 1, weights["positive"]).otherwise(weights["negative"])),
        weights,
    )


# ---------------------------------------------------------------------------------------------------- models


def _prepare(columns: list[str]) -> list:
    imputed = [f"_imp_{c}" for c in columns]
    return [
        Imputer(inputCols=columns, outputCols=imputed, strategy="median"),
        VectorAssembler(inputCols=imputed, outputCol=VECTOR),
    ]


def gbt_pipeline(columns: list[str], cfg: PropensityConfig) -> tuple[Pipeline, GBTClassifier]:
    gbt = GBTClassifier(
        featuresCol=VECTOR,
        labelCol=LABEL,
        weightCol=WEIGHT,
        seed=cfg.seed,
        maxDepth=cfg.grid.max_depth[0],
        minInstancesPerNode=cfg.grid.min_instances_per_node[0],
        subsamplingRate=cfg.grid.subsampling_rate[0],
    )
    return Pipeline(stages=[*_prepare(columns), gbt]), gbt


def baseline_pipeline(columns: list[str]) -> Pipeline:
    scaler = StandardScaler(inputCol=VECTOR, outputCol="_scaled", withMean=True, withStd=True)
    lr = LogisticRegression(featuresCol="_scaled", labelCol=LABEL, weightCol=WEIGHT, regParam=0.01, maxIter=100)
    return Pipeline(stages=[*_prepare(columns), scaler, lr])


def scored(model: PipelineModel, df: DataFrame) -> DataFrame:
    """``df`` plus ``raw_score`` (the classifier's probability of the positive class) and ``score``: the calibrated
    probability when the pipeline ends with the isotonic calibrator, else the raw one."""
    out = model.transform(df).withColumn(RAW_SCORE, vector_to_array(F.col("probability"))[1])
    return out.withColumn(SCORE, F.col(CALIBRATED) if CALIBRATED in out.columns else F.col(RAW_SCORE))


def _latest_cutoff(train: DataFrame) -> date:
    return first_row(train.agg(F.max("snapshot_date")))[0]


def isotonic_on(model: PipelineModel, validation: DataFrame) -> IsotonicRegressionModel:
    """An isotonic map from ``model``'s probability to the rate observed on ``validation``, unweighted (the class
    weights inflate the positives' probabilities; the map brings them back to rates)."""
    isotonic = IsotonicRegression(featuresCol="probability", featureIndex=1, labelCol=LABEL, predictionCol=CALIBRATED)
    return isotonic.fit(model.transform(validation))


def fit_calibrator(estimator: Pipeline, params: dict, train: DataFrame) -> IsotonicRegressionModel | None:
    """The isotonic map learnt out of time: ``estimator`` (with ``params``) refitted on the training cut-offs before
    the latest one, scored on the latest one. None with one cut-off."""
    latest = _latest_cutoff(train)
    earlier = train.where(F.col("snapshot_date") < F.lit(latest))
    if earlier.isEmpty():
        return None
    return isotonic_on(estimator.fit(earlier, params), train.where(F.col("snapshot_date") == F.lit(latest)))


@dataclass
class HoldoutMetrics:
    roc_auc: float
    pr_auc: float
    brier: float
    base_rate: float
    lift_top_decile: float
    capture_top_decile: float
    rows: int
    calibration: list[dict[str, float]] = field(default_factory=list)  # per score decile: n, mean score, rate

    def flat(self, prefix: str) -> dict[str, float]:
        names = ("roc_auc", "pr_auc", "brier", "base_rate", "lift_top_decile", "capture_top_decile", "rows")
        return {f"{prefix}{n}": float(getattr(self, n)) for n in names}


def evaluate(predictions: DataFrame, rank: str = SCORE) -> HoldoutMetrics:
    """ROC-AUC, PR-AUC, Brier score, lift and capture in the top score decile and a calibration table by score
    decile, from ``label`` and ``score`` (decile edges by approximate quantiles: 9 numbers reach the driver).

    ``rank``: the column that orders subjects for the ranking metrics (ROC-AUC, PR-AUC, deciles); the Brier score
    and each decile's mean score are on ``score``. A calibrated score is an isotonic step function of the raw
    probability: ranked by its plateaus, the ties cost ROC-AUC although the map keeps the order (the GBT then lost
    to the baseline on CDNOW purchases by its calibration alone), so fit_target ranks by ``raw_score``."""
    roc = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol=rank, metricName="areaUnderROC")
    pr = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol=rank, metricName="areaUnderPR")
    edges = predictions.approxQuantile(rank, [i / DECILES for i in range(1, DECILES)], 1e-4)
    decile = reduce(lambda acc, e: acc + F.when(F.col(rank) > e, 1).otherwise(0), edges, F.lit(1))
    by_decile = (
        predictions.withColumn("_decile", decile)
        .groupBy("_decile")
        .agg(
            F.count("*").alias("n"),
            F.avg(SCORE).alias("mean_score"),
            F.avg(LABEL).alias("positive_rate"),
            F.sum(LABEL).alias("positives"),
        )
        .orderBy("_decile")
        .collect()
    )
    totals = first_row(
        predictions.agg(
            F.count("*").alias("n"),
            F.avg(LABEL).alias("rate"),
            F.avg((F.col(SCORE) - F.col(LABEL)) ** 2).alias("brier"),
        )
    )
    top = by_decile[-1] if by_decile else None
    all_positives = sum(r["positives"] for r in by_decile) or 0.0
    return HoldoutMetrics(
        roc_auc=roc.evaluate(predictions),
        pr_auc=pr.evaluate(predictions),
        brier=float(totals["brier"]),
        base_rate=float(totals["rate"]),
        lift_top_decile=float(top["positive_rate"] / totals["rate"]) if top and totals["rate"] else 0.0,
        capture_top_decile=float(top["positives"] / all_positives) if top and all_positives else 0.0,
        rows=int(totals["n"]),
        calibration=[
            {"decile": r["_decile"], "n": r["n"], "mean_score": r["mean_score"], "positive_rate": r["positive_rate"]}
            for r in by_decile
        ],
    )


@dataclass
class TargetFit:
    """What training one target produced; ``model`` is the one published (GBT unless the baseline beat it)."""

    target: str
    cutoffs: Cutoffs
    columns: list[str]
    model: PipelineModel
    model_kind: str  # gbt | logistic_regression
    gbt: HoldoutMetrics
    baseline: HoldoutMetrics
    best_params: dict[str, float]
    validation: str  # how the grid setting was chosen: Selection.method
    validation_roc_auc: list[float]  # per grid setting
    calibrated: bool  # the GBT ends with the isotonic calibrator (it lowered the holdout Brier score)
    uncalibrated_brier: float
    importances: dict[str, float]
    class_weights: dict[str, float]
    training_rows: int
    training_positives: int
    dropped_features: dict[str, str]

    @property
    def published(self) -> HoldoutMetrics:
        return self.gbt if self.model_kind == "gbt" else self.baseline

    def summary(self) -> str:
        return (
            f"{self.target}: holdout {self.cutoffs.holdout} ROC-AUC {self.gbt.roc_auc:.3f} (GBT) vs "
            f"{self.baseline.roc_auc:.3f} (logistic baseline), PR-AUC {self.gbt.pr_auc:.3f}, top-decile lift "
            f"{self.gbt.lift_top_decile:.2f}; published {self.model_kind}"
        )


def _check_positives(df: DataFrame, what: str, cfg: PropensityConfig) -> tuple[int, int]:
    row = first_row(df.agg(F.count("*").alias("n"), F.sum(LABEL).alias("p")))
    rows, positives = int(row["n"]), int(row["p"] or 0)
    if positives < cfg.min_positives or rows - positives < cfg.min_positives:
        raise PropensityError(
            f"{what}: {positives} positives and {rows - positives} negatives in {rows} rows; "
            f"propensity.min_positives is {cfg.min_positives} of each"
        )
    return rows, positives


# The Imputer of a model fitted on part of the training rows (a cross-validation fold, or the cut-offs before the
# latest one) has no surrogate for a column with no value in that part: a column with fewer known values than this
# there is dropped (with n values, the chance that one of 2 folds misses all of them is 2^(1-n): 2e-6 for 20).
MIN_KNOWN_VALUES = 20


def _too_sparse(df: DataFrame, columns: list[str], where: str) -> dict[str, str]:
    """Feature -> reason, for the columns with fewer than MIN_KNOWN_VALUES non-null values in ``df`` (one
    aggregation); ``where`` names the rows in the reason."""
    if not columns:
        return {}
    row = first_row(
        df.agg(*[F.count(F.nanvl(F.col(c).cast("double"), F.lit(None).cast("double"))).alias(c) for c in columns])
    )
    return {c: f"{row[c]} known values {where}" for c in columns if row[c] < MIN_KNOWN_VALUES}


@dataclass(frozen=True)
class Selection:
    """The grid setting chosen for the GBT and how: ``method`` is out_of_time (fitted on the training cut-offs
    before the latest, judged on the latest), cross_validation (one training cut-off: k folds of its rows) or
    single_setting (a one-setting grid: nothing to choose)."""

    index: int
    method: str
    roc_auc: list[float]  # per grid setting, on the validation rows (empty for single_setting)
    earlier_model: PipelineModel | None = None  # out_of_time: the chosen setting fitted before the latest cut-off
    validation: DataFrame | None = None  # out_of_time: the latest training cut-off's rows


def select_setting(pipeline: Pipeline, grid: list, train: DataFrame, cfg: PropensityConfig) -> Selection:
    """Choose the GBT's grid setting. Out of time when there are two training cut-offs or more: a subject appears at
    every cut-off with nearly the same features, so random folds put the same subjects on both sides and reward
    trees that remember them; the latest cut-off judged by fits on the earlier ones is the deployment's situation
    (trained on the past, scored on what follows), and costs one fit per setting instead of ``num_folds``."""
    if len(grid) == 1:
        return Selection(0, "single_setting", [])
    evaluator = BinaryClassificationEvaluator(labelCol=LABEL, rawPredictionCol="rawPrediction")
    latest = _latest_cutoff(train)
    earlier = train.where(F.col("snapshot_date") < F.lit(latest))
    if earlier.isEmpty():
        cv = CrossValidator(
            estimator=pipeline,
            estimatorParamMaps=grid,
            evaluator=evaluator,
            numFolds=cfg.num_folds,
            parallelism=cfg.parallelism,
            seed=cfg.seed,
        )
        metrics = [float(m) for m in cv.fit(train).avgMetrics]
        return Selection(max(range(len(grid)), key=metrics.__getitem__), "cross_validation", metrics)
    validation = train.where(F.col("snapshot_date") == F.lit(latest))
    fits = pipeline.fitMultiple(earlier, grid)  # thread-safe: each next() fits one setting

    def fit_and_judge(_: int) -> tuple[int, PipelineModel, float]:
        index, model = next(fits)
        return index, model, evaluator.evaluate(model.transform(validation))

    with ThreadPool(min(cfg.parallelism, len(grid))) as pool:
        judged = sorted(pool.map(fit_and_judge, range(len(grid))))
    metrics = [auc for _, _, auc in judged]
    best = max(range(len(grid)), key=metrics.__getitem__)  # the first of equals: the grid's order decides ties
    return Selection(best, "out_of_time", metrics, judged[best][1], validation)


def fit_target(name: str, train: DataFrame, holdout: DataFrame, cutoffs: Cutoffs, cfg: PropensityConfig) -> TargetFit:
    """The GBT (grid setting chosen by :func:`select_setting`) and a logistic baseline on ``train``, both judged on
    ``holdout`` (later in time)."""
    # Cached first: the checks, the feature inspection and every fit read the labelled rows, whose labels are joins
    # over silver. One partition per core: the boosting iterations run a few jobs each, and on small training sets
    # the tasks of many tiny partitions (a union of several snapshots' frames) cost more than their rows. In a fixed
    # row order set by the values (seglib.modeling.row_order): the CV folds are drawn per row and the GBT samples rows
    # for its split candidates, so an order that followed shuffle timing or the pseudonyms changed the model between
    # runs of the same data or under another key (upgrade: 0.700-0.748 across keys).
    parallelism = train.sparkSession.sparkContext.defaultParallelism
    cached = canonical_order(train, value_columns(train), parallelism).persist()
    rows, positives = _check_positives(cached, f"{name} training set ({len(cutoffs.training)} cut-offs)", cfg)
    _check_positives(holdout, f"{name} holdout ({cutoffs.holdout})", cfg)
    usable, dropped = inspect_features(cached, cfg.features, [])
    if len(cutoffs.training) > 1:  # the selection or the calibrator fits on the cut-offs before the latest
        before = cached.where(F.col("snapshot_date") < F.lit(cutoffs.training[-1]))
        dropped |= _too_sparse(before, usable.numeric, f"before the latest training cut-off {cutoffs.training[-1]}")
    else:
        dropped |= _too_sparse(cached, usable.numeric, f"for {cfg.num_folds}-fold cross-validation")
    columns = [c for c in usable.numeric if c not in dropped]
    train, weights = with_class_weights(cached, cfg, (positives, rows - positives))
    pipeline, gbt = gbt_pipeline(columns, cfg)
    grid = (
        ParamGridBuilder()
        .addGrid(gbt.maxDepth, cfg.grid.max_depth)
        .addGrid(gbt.maxIter, cfg.grid.max_iter)
        .addGrid(gbt.stepSize, cfg.grid.step_size)
        .addGrid(gbt.minInstancesPerNode, cfg.grid.min_instances_per_node)
        .addGrid(gbt.subsamplingRate, cfg.grid.subsampling_rate)
        .build()
    )
    selection = select_setting(pipeline, grid, train, cfg)
    best = pipeline.fit(train, grid[selection.index])
    best_gbt = cast(GBTClassificationModel, best.stages[-1])  # the pipeline ends with the GBT
    best_params = {
        "max_depth": float(best_gbt.getMaxDepth()),
        "max_iter": float(best_gbt.getMaxIter()),
        "step_size": float(best_gbt.getStepSize()),
        "min_instances_per_node": float(best_gbt.getMinInstancesPerNode()),
        "subsampling_rate": float(best_gbt.getSubsamplingRate()),
    }
    baseline = baseline_pipeline(columns).fit(train)
    if selection.earlier_model is not None and selection.validation is not None:
        calibrator: IsotonicRegressionModel | None = isotonic_on(selection.earlier_model, selection.validation)
    else:
        calibrator = fit_calibrator(pipeline, grid[selection.index], train)
    gbt_metrics = evaluate(scored(best, holdout), rank=RAW_SCORE)
    baseline_metrics = evaluate(scored(baseline, holdout), rank=RAW_SCORE)
    cached.unpersist()
    uncalibrated_brier, is_calibrated = gbt_metrics.brier, False
    if calibrator is not None:
        calibrated = PipelineModel(stages=[*best.stages, calibrator])
        calibrated_metrics = evaluate(scored(calibrated, holdout), rank=RAW_SCORE)
        log.info(
            "propensity %s: isotonic calibration holdout Brier %.4f -> %.4f", name, gbt_metrics.brier,
            calibrated_metrics.brier,
        )  # fmt: skip
        if calibrated_metrics.brier < gbt_metrics.brier:  # "if it helps": kept only when the holdout says so
            best, gbt_metrics, is_calibrated = calibrated, calibrated_metrics, True
    importances = dict(
        sorted(zip(columns, best_gbt.featureImportances.toArray().tolist(), strict=True), key=lambda kv: -kv[1])
    )
    model_kind = "gbt" if gbt_metrics.roc_auc > baseline_metrics.roc_auc else "logistic_regression"
    fit = TargetFit(
        target=name,
        cutoffs=cutoffs,
        columns=columns,
        model=best if model_kind == "gbt" else baseline,
        model_kind=model_kind,
        gbt=gbt_metrics,
        baseline=baseline_metrics,
        best_params=best_params,
        validation=selection.method,
        validation_roc_auc=selection.roc_auc,
        calibrated=is_calibrated,
        uncalibrated_brier=uncalibrated_brier,
        importances=importances,
        class_weights=weights,
        training_rows=rows,
        training_positives=positives,
        dropped_features=dropped,
    )
    if model_kind != "gbt":
        log.warning(
            "propensity %s: the GBT (holdout ROC-AUC %.3f) did NOT beat the logistic baseline (%.3f): publishing "
            "the baseline",
            name,
            gbt_metrics.roc_auc,
            baseline_metrics.roc_auc,
        )
    log.info("propensity %s", fit.summary())
    return fit


# ---------------------------------------------------------------------------------------------------- tiers


def tier_thresholds(scores: DataFrame, cfg: PropensityConfig, column: str = RAW_SCORE) -> dict[str, float]:
    """Tier -> the quantile of ``column`` in the scored snapshot its members exceed (highest tier first). On the raw
    score by default: a calibrated score is a step function, and its plateaus would swallow whole tiers (the order is
    the same, isotonic maps being monotone)."""
    tiers = sorted(cfg.tier_quantiles.items(), key=lambda kv: -kv[1])
    values = scores.approxQuantile(column, [q for _, q in tiers], 1e-4)
    return {name: float(v) for (name, _), v in zip(tiers, values, strict=True)}


def tier_of(score: Column, thresholds: dict[str, float]) -> Column:
    """The first tier (highest threshold first) whose threshold the score exceeds, else ``low``: with the 0.9
    quantile as threshold, ``high`` is the top 10% (ties at the threshold fall below)."""
    ordered = sorted(thresholds.items(), key=lambda kv: -kv[1])
    first = F.when(score > F.lit(ordered[0][1]), F.lit(ordered[0][0]))
    return reduce(lambda acc, kv: acc.when(score > F.lit(kv[1]), F.lit(kv[0])), ordered[1:], first).otherwise(
        F.lit("low")
    )


def tier_profiles(scored_snapshot: DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Per tier: subjects, mean score and the mean of every model feature (for the report; tiers x columns)."""
    rows = (
        scored_snapshot.groupBy("tier")
        .agg(F.count("*").alias("subjects"), F.avg(SCORE).alias("mean_score"), *[F.avg(c).alias(c) for c in columns])
        .orderBy(F.desc("mean_score"))
        .collect()
    )
    return [r.asDict() for r in rows]
