"""Propensity on real data: will a CDNOW customer buy in the 30 days after a cut-off?

The CDNOW orders (``benchmarks/real_data.py``, dates unshifted: 1997-01-01 .. 1998-06-30) go through seglib's own
path: raw tables -> ingest -> the feature build at each cut-off -> ``seglib.modeling.propensity``
(``cutoffs_for``, ``labelled_snapshot``, the leakage check, ``fit_target``). Scoring as of 1998-07-01, the first day
after the data: the holdout cut-off is 1998-06-01 (its 30-day label window is the data's last month) and the three
training cut-offs are 30 days apart before it. On the same holdout subjects it compares the published model, the
GBT and the logistic baseline ``fit_target`` trains, the BG/NBD ranking (``btyd_expected_purchases`` of the holdout
features: expected purchases in the 30 days, fitted on the orders before the cut-off) and recency alone (days since
the last order, fewer first). ``fit_target`` is also run without the BTYD columns (the feature list before them), so
the table shows what they add.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from pyspark.sql import DataFrame, SparkSession

    from seglib.config import SeglibConfig
    from seglib.modeling.propensity import Cutoffs, HoldoutMetrics, TargetFit

log = logging.getLogger("benchmarks.propensity_real")

TARGET = "purchase"
BTYD_FEATURES = ("btyd_p_alive", "btyd_expected_purchases", "recency_gap_ratio")
RESULTS = Path(__file__).resolve().parent / "results" / "latest-propensity-real.md"


@dataclass(frozen=True)
class LabelledSets:
    train: DataFrame  # the training cut-offs' labelled rows (every feature of the feature table's, plus label)
    holdout: DataFrame
    cutoffs: Cutoffs
    as_of: date
    subjects: int


def load_cdnow(spark: SparkSession, cfg: SeglibConfig, customers: int | None) -> date:
    """Write the CDNOW raw tables into ``cfg``'s warehouse and ingest them; return the scoring date (the day after
    the data)."""
    from benchmarks.real_data import cdnow_last_day, write_cdnow_raw_tables
    from seglib.ingest import run_ingest
    from seglib.tables import RAW_INPUTS, Warehouse

    wh = Warehouse.of(cfg)
    counts = write_cdnow_raw_tables(spark, {n: wh.location(f"raw/{n}") for n in RAW_INPUTS}, customers=customers)
    log.info("CDNOW raw tables: %s", counts)
    as_of = cdnow_last_day() + timedelta(days=1)
    run_ingest(spark, cfg, run_id="bench-real", now=datetime.now(UTC), full_refresh=True, as_of=as_of)
    return as_of


def labelled_sets(spark: SparkSession, cfg: SeglibConfig, as_of: date, check_leakage: bool = True) -> LabelledSets:
    """The feature build at every cut-off of the purchase target, labelled (seglib's training path); the leakage
    check at the latest training cut-off first, as the pipeline runs it."""
    from seglib.features import build_feature_set
    from seglib.modeling import propensity as P
    from seglib.stages import read_silver

    silver = read_silver(spark, cfg)
    pcfg, target = cfg.propensity, cfg.propensity.targets[TARGET]
    cutoffs = P.cutoffs_for(as_of, target, pcfg)

    def features_at(s, cutoff: date) -> DataFrame:
        return build_feature_set(s, cfg.features, cutoff, required_consent=cfg.privacy.required_consent).features

    # Checkpointed: each build is read by the leakage check, the labels and every fit below.
    built = {c: features_at(silver, c).localCheckpoint(eager=True) for c in (*cutoffs.training, cutoffs.holdout)}
    columns = [c for c in built[cutoffs.holdout].columns if c not in ("subject_id", "snapshot_date")]
    numeric = [c for c in columns if c in pcfg.features or c in BTYD_FEATURES]
    if check_leakage:
        latest = cutoffs.training[-1]
        P.check_no_leakage(features_at, silver, latest, numeric, built[latest])
    plans = cfg.features.demographics.plan_order
    frames = {
        c: P.labelled_snapshot(built[c], target, pcfg, silver, c, numeric, plans).localCheckpoint(eager=True)
        for c in built
    }
    holdout = frames[cutoffs.holdout]
    train = reduce(lambda a, b: a.unionByName(b), [frames[c] for c in cutoffs.training])
    return LabelledSets(train, holdout, cutoffs, as_of, holdout.count())


def ranking_metrics(holdout: DataFrame, score) -> HoldoutMetrics:
    """The holdout metrics of a plain ranking column (the BTYD and recency references)."""
    from seglib.modeling.propensity import SCORE, evaluate

    return evaluate(holdout.withColumn(SCORE, score.cast("double")))


def references(holdout: DataFrame) -> dict[str, HoldoutMetrics]:
    from pyspark.sql import functions as F

    return {
        # every holdout subject has bought before the cut-off (CDNOW's cohort), so neither column is null here
        "BG/NBD expected purchases (30 days)": ranking_metrics(
            holdout, F.coalesce("btyd_expected_purchases", F.lit(0))
        ),
        "recency alone (days since the last order, fewer first)": ranking_metrics(
            holdout, -F.coalesce("recency_days", F.lit(10**6))
        ),
    }


def fit(sets: LabelledSets, cfg: SeglibConfig, **changes: Any) -> tuple[TargetFit, float]:
    """``fit_target`` with ``propensity`` config changes; (the fit, seconds)."""
    from seglib.modeling.propensity import fit_target

    pcfg = cfg.propensity.model_copy(update=changes)
    started = time.perf_counter()
    result = fit_target(TARGET, sets.train, sets.holdout, sets.cutoffs, pcfg)
    return result, time.perf_counter() - started


def _row(name: str, m: HoldoutMetrics) -> str:
    return f"| {name} | **{m.roc_auc:.3f}** | {m.pr_auc:.3f} | {m.lift_top_decile:.2f} |"


def report(
    sets: LabelledSets,
    rows: list[tuple[str, HoldoutMetrics]],
    notes: list[str],
    how: str = "`python -m benchmarks.run --only propensity-real`",
) -> str:
    h = rows[0][1]
    lines = [
        "# Propensity on real data (CDNOW, purchase in the next 30 days)",
        "",
        f"Generated by {how} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Scoring as of {sets.as_of}; training cut-offs {', '.join(map(str, sets.cutoffs.training))}; holdout "
        f"cut-off {sets.cutoffs.holdout}: {h.rows:,} subjects, base rate {h.base_rate:.1%}.",
        "",
        "| model (same holdout subjects) | ROC-AUC | PR-AUC | top-decile lift |",
        "|---|---|---|---|",
        *[_row(n, m) for n, m in rows],
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    return "\n".join(lines)


def compare(
    sets: LabelledSets, cfg: SeglibConfig, phases: Any, how: str = "`python -m benchmarks.run --only propensity-real`"
) -> tuple[str, dict[str, Any]]:
    """fit_target with and without the BTYD columns and the two reference rankings on the same holdout: (the
    markdown report, the metrics)."""
    from seglib.config.propensity import DEFAULT_PROPENSITY_FEATURES

    with phases.timed("real_fit_published"):
        published, seconds = fit(sets, cfg)
    without = [c for c in DEFAULT_PROPENSITY_FEATURES if c not in BTYD_FEATURES]
    with phases.timed("real_fit_without_btyd"):
        before, _ = fit(sets, cfg, features=without)
    refs = references(sets.holdout)
    calibrated = ", calibrated" if published.model_kind == "gbt" and published.calibrated else ""
    rows = [
        (f"published ({published.model_kind}{calibrated})", published.published),
        ("GBT (fit_target)", published.gbt),
        ("logistic baseline (fit_target)", published.baseline),
        *refs.items(),
        ("GBT without the BTYD columns", before.gbt),
        ("logistic baseline without the BTYD columns", before.baseline),
    ]
    top = ", ".join(f"{k} {v:.3f}" for k, v in list(published.importances.items())[:6])
    notes = [
        f"fit_target: {published.training_rows:,} training rows ({published.training_positives:,} positives), "
        f"best GBT setting {published.best_params}, {published.validation} ROC-AUC "
        f"{[round(x, 3) for x in published.validation_roc_auc]}, "
        f"{seconds:.0f} s; ranking metrics on the raw probability, Brier on the published score",
        f"GBT feature importances (top 6): {top}",
        f"dropped features (all null or constant on this data): {sorted(published.dropped_features)}",
    ]
    metrics = {
        "real_published_roc_auc": published.published.roc_auc,
        "real_gbt_roc_auc": published.gbt.roc_auc,
        "real_baseline_roc_auc": published.baseline.roc_auc,
        "real_btyd_roc_auc": refs["BG/NBD expected purchases (30 days)"].roc_auc,
        "real_recency_roc_auc": refs["recency alone (days since the last order, fewer first)"].roc_auc,
        "real_published_pr_auc": published.published.pr_auc,
        "real_holdout_subjects": sets.subjects,
    }
    return report(sets, rows, notes, how), metrics


def bench_propensity_real(
    spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, phases: Any
) -> dict[str, Any]:
    """The CDNOW purchase benchmark (see the module doc); writes benchmarks/results/latest-propensity-real.md."""
    customers = getattr(args, "real_customers", None)
    cfg = cfg.model_copy(deep=True)
    cfg.warehouse.path = str(Path(cfg.warehouse.path).parent / "real-warehouse")
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "4")  # ~70k orders: a few partitions, not the 20M-event setting
    try:
        with phases.timed("real_load_ingest"):
            as_of = load_cdnow(spark, cfg, customers)
        with phases.timed("real_features_labels"):
            sets = labelled_sets(spark, cfg, as_of)
        text, metrics = compare(sets, cfg, phases)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
    RESULTS.write_text(text)
    print(text)
    return metrics


__all__ = ["bench_propensity_real", "compare", "fit", "labelled_sets", "load_cdnow", "references"]
