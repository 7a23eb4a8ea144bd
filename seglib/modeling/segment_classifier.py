"""The segment classifier: subjects with too little data for the clustering (``segments.sparse_when``) are not
clustered; they get the cluster segment a random forest trained on the clustered subjects' segments predicts, or
the fallback segment when the forest is unsure (top class probability below ``confidence_threshold``) or was not
good enough on its holdout (``segments.classifier.registry.champion_gate``: accuracy at least 0.5 by default).

The holdout is chosen by a hash of the pseudonym, so the same subjects are held out in every run, and the published
model is the one fitted on the rest (the model the holdout judged). Everything that reaches the driver is bounded:
the class labels and a confusion table of at most ``classes x classes x 2`` counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.feature import Imputer, IndexToString, StringIndexer, StringIndexerModel, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.registry import GateRule
from seglib.config.segments import ClassifierConfig
from seglib.errors import SeglibError
from seglib.modeling.gate import gate_decision
from seglib.modeling.row_order import canonical_order, in_sample, value_columns

log = logging.getLogger(__name__)

LABEL_COL = "segment_id"  # the training label: the clustered subject's segment
PREDICTED = "predicted_segment_id"  # the pipeline's output: the most probable segment
PROBABILITY = "_sc_probability"  # class probabilities, in the order of ``classes``
CONFIDENCE = "confidence"
SOURCE = "assignment_source"
CLASSIFIER, FALLBACK = "classifier", "fallback"
_INDEX, _VECTOR, _RAW, _PREDICTION = "_sc_label", "_sc_features", "_sc_raw", "_sc_prediction"
_TRUTH = "_sc_truth"


class SegmentClassifierError(SeglibError):
    """The segment classifier cannot be trained on what it was given (no training rows)."""


@dataclass(frozen=True)
class SegmentClassifierFit:
    """The published pipeline (fitted on the training part), what it reads and predicts, and its holdout verdict."""

    model: PipelineModel
    feature_cols: list[str]
    classes: list[str]  # segment ids seen in training, sorted (the label indices of the forest)
    metrics: dict[str, float]  # accuracy, f1_macro, coverage, accuracy_covered, training_rows, holdout_rows
    usable: bool  # the holdout passed segments.classifier.registry.champion_gate
    reason: str


def in_holdout(fraction: float, feature_cols: Sequence[str]) -> Column:
    """True for the subjects held out: a hash of their feature values and segment, not a random draw and not the
    pseudonym, so the same rows are held out in every run and under every pseudonymization key."""
    return in_sample(fraction, [*feature_cols, LABEL_COL])


def _features(df: DataFrame, feature_cols: list[str], *extra: str) -> DataFrame:
    """subject_id, the features as doubles (an integer column's median would be truncated by the Imputer), extras."""
    return df.select("subject_id", *[F.col(c).cast("double").alias(c) for c in feature_cols], *extra)


def _pipeline(
    feature_cols: list[str], classes: list[str], cfg: ClassifierConfig, indexer: StringIndexerModel
) -> Pipeline:
    imputed = [f"_sc_imp_{c}" for c in feature_cols]
    forest = RandomForestClassifier(
        featuresCol=_VECTOR,
        labelCol=_INDEX,
        predictionCol=_PREDICTION,
        probabilityCol=PROBABILITY,
        rawPredictionCol=_RAW,
        numTrees=cfg.num_trees,
        maxDepth=cfg.max_depth,
        seed=cfg.seed,
    )
    return Pipeline(
        stages=[
            Imputer(inputCols=feature_cols, outputCols=imputed, strategy="median"),
            VectorAssembler(inputCols=imputed, outputCol=_VECTOR),
            # Already fitted; skipped when scoring frames without segment_id (holdout, sparse subjects).
            indexer,
            forest,
            IndexToString(inputCol=_PREDICTION, outputCol=PREDICTED, labels=classes),
        ]
    )


def predict(model: PipelineModel, df: DataFrame, feature_cols: list[str], *extra: str) -> DataFrame:
    """subject_id, ``extra`` columns, the predicted segment and its probability (``confidence``)."""
    out = model.transform(_features(df, feature_cols, *extra))
    return out.select(
        "subject_id", *extra, PREDICTED, F.array_max(vector_to_array(F.col(PROBABILITY))).alias(CONFIDENCE)
    )


def holdout_metrics(predictions: DataFrame, threshold: float) -> dict[str, float]:
    """Accuracy, macro F1 (unweighted mean over the classes in the truth or the predictions), coverage (share with
    confidence >= threshold) and the accuracy among those, from one aggregation: a confusion table with a covered
    flag. NaN where a ratio has no rows. ``predictions``: :func:`predict` of rows carrying the true segment as
    ``_sc_truth`` (a string, so a segment the training part never saw is simply a miss)."""
    covered = F.col(CONFIDENCE) >= F.lit(threshold)
    table = predictions.groupBy(_TRUTH, PREDICTED, covered.alias("covered")).agg(F.count("*").alias("n")).collect()
    total = sum(r["n"] for r in table)
    correct = sum(r["n"] for r in table if r[_TRUTH] == r[PREDICTED])
    n_covered = sum(r["n"] for r in table if r["covered"])
    correct_covered = sum(r["n"] for r in table if r["covered"] and r[_TRUTH] == r[PREDICTED])
    true_n: Counter[str] = Counter()
    predicted_n: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for r in table:
        true_n[r[_TRUTH]] += r["n"]
        predicted_n[r[PREDICTED]] += r["n"]
        if r[_TRUTH] == r[PREDICTED]:
            hits[r[_TRUTH]] += r["n"]
    f1 = [2 * hits[c] / (true_n[c] + predicted_n[c]) for c in set(true_n) | set(predicted_n)]
    nan = float("nan")
    return {
        "accuracy": correct / total if total else nan,
        "f1_macro": sum(f1) / len(f1) if f1 else nan,
        "coverage": n_covered / total if total else nan,
        "accuracy_covered": correct_covered / n_covered if n_covered else nan,
        "holdout_rows": float(total),
    }


GATE_KEY = "segments.classifier.registry.champion_gate"


def verdict(metrics: dict[str, float], rules: list[GateRule]) -> tuple[bool, str]:
    """Usable when the holdout metrics pass the gate ``rules`` (judged on the holdout alone: the previous version
    learnt another snapshot's segments); a classifier without holdout rows cannot be judged, so it is not used."""
    if not metrics["holdout_rows"]:
        return False, "no clustered subject in the holdout: the classifier cannot be judged"
    decision = gate_decision(rules, metrics, None, rules_key=GATE_KEY)
    judged = ", ".join(f"{m} {metrics[m]:.3f}" for m in dict.fromkeys(r.metric for r in rules))
    if decision.promoted:
        return True, f"holdout {judged} passes {GATE_KEY}"
    return False, f"holdout {decision.reason} ({GATE_KEY})"


def fit_segment_classifier(labelled: DataFrame, feature_cols: list[str], cfg: ClassifierConfig) -> SegmentClassifierFit:
    """A random forest from the features to the cluster segment, fitted on the clustered subjects outside the
    holdout and judged on the holdout. ``labelled``: subject_id, the feature columns (nulls imputed by the training
    medians inside the pipeline) and segment_id. Raises SegmentClassifierError when no row is left for training."""
    rows = _features(labelled, feature_cols, LABEL_COL).where(F.col(LABEL_COL).isNotNull())
    held = in_holdout(cfg.holdout_fraction, feature_cols)
    # Cached: the indexer, the Imputer and every tree level read the training rows.
    train = rows.where(~held)
    train = canonical_order(train, value_columns(train), train.sparkSession.sparkContext.defaultParallelism).persist()
    try:
        training_rows = train.count()
        if not training_rows:
            raise SegmentClassifierError(
                "segment classifier: no clustered subject left for training outside the holdout "
                f"(holdout_fraction {cfg.holdout_fraction})"
            )
        # alphabetAsc: label index i is the i-th segment id in sorted order, whatever the class sizes.
        indexer = StringIndexer(inputCol=LABEL_COL, outputCol=_INDEX, stringOrderType="alphabetAsc").fit(train)
        classes = list(indexer.labels)
        model = _pipeline(feature_cols, classes, cfg, indexer).fit(train)
    finally:
        train.unpersist()
    # The truth renamed: the indexer would fail on a held-out subject of a segment the training part never saw
    # (a one-member segment); as a string it simply counts as a miss.
    holdout = rows.where(held).withColumnRenamed(LABEL_COL, _TRUTH)
    metrics = holdout_metrics(predict(model, holdout, feature_cols, _TRUTH), cfg.confidence_threshold)
    metrics["training_rows"] = float(training_rows)
    usable, reason = verdict(metrics, cfg.registry.champion_gate)
    log.log(
        logging.INFO if usable else logging.WARNING,
        "segment classifier: %d classes, %d training / %d holdout rows, accuracy %.3f, macro F1 %.3f, coverage %.3f "
        "at threshold %.2f; %s",
        len(classes),
        training_rows,
        metrics["holdout_rows"],
        metrics["accuracy"],
        metrics["f1_macro"],
        metrics["coverage"],
        cfg.confidence_threshold,
        "usable" if usable else f"NOT used: {reason}",
    )
    return SegmentClassifierFit(model, list(feature_cols), classes, metrics, usable, reason)


def classify_sparse(
    fit: SegmentClassifierFit | None, sparse: DataFrame, threshold: float, fallback_id: str
) -> DataFrame:
    """subject_id, segment_id, confidence, assignment_source of the sparse subjects: the predicted segment when the
    classifier is usable and its top class probability is >= ``threshold`` (source classifier), else ``fallback_id``
    (source fallback; confidence keeps the probability the threshold refused). No fit (disabled, nothing clustered)
    or an unusable one: everyone falls back, confidence null."""
    if fit is None or not fit.usable:
        return sparse.select(
            "subject_id",
            F.lit(fallback_id).alias("segment_id"),
            F.lit(None).cast("double").alias(CONFIDENCE),
            F.lit(FALLBACK).alias(SOURCE),
        )
    confident = F.col(CONFIDENCE) >= F.lit(threshold)
    return predict(fit.model, sparse, fit.feature_cols).select(
        "subject_id",
        F.when(confident, F.col(PREDICTED)).otherwise(F.lit(fallback_id)).alias("segment_id"),
        CONFIDENCE,
        F.when(confident, F.lit(CLASSIFIER)).otherwise(F.lit(FALLBACK)).alias(SOURCE),
    )
