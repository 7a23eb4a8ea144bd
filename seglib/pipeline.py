"""The orchestrator: which stages a run has, in which order, and the two functions that run them.

``seg`` (every sub-command that computes something) and the ``jobs/*.py`` entry points call :func:`run` (one
snapshot) or :func:`run_snapshots` (consecutive snapshots in one process). A stage can run alone (``seg ingest``,
``seg features`` ...) or chained (``seg run``). :func:`run` holds the warehouse's run lock for its whole duration (two
runs on one warehouse are serialized: the second fails at once with a clear message) and wraps the stages in one
MLflow run. The stages themselves live in :mod:`seglib.stages`, their results in :mod:`seglib.run_types`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from pyspark.sql import SparkSession

from seglib.config import SeglibConfig
from seglib.errors import RequiredFamilyError, UntrainableError
from seglib.run_types import FamilyCheck, RunContext, RunResult
from seglib.stages import (
    check_families,
    clv_skipped,
    planted_truth_scores_of,
    stage_cluster,
    stage_clv,
    stage_features,
    stage_generate,
    stage_ingest,
    stage_propensity,
    stage_segments,
)
from seglib.tables import CLUSTER_FAMILY, CLV_FAMILY

log = logging.getLogger(__name__)

STAGES = (
    "generate",
    "ingest",
    "features",
    "propensity",
    "propensity_score",
    "clv",
    "clv_score",
    "cluster",
    "segments",
)
LOADING = ("generate", "ingest")
SCORING = {"propensity": "propensity_score", "clv": "clv_score"}  # a training stage -> its scoring-only twin


def run(
    spark: SparkSession,
    cfg: SeglibConfig,
    ctx: RunContext,
    stages: Sequence[str],
    full_refresh: bool = False,
) -> RunResult:
    """Run ``stages`` (in pipeline order) under the warehouse's run lock and one MLflow run.

    Regenerated raw tables replace the previous synthetic world, so ingest after ``generate`` is a full refresh.
    """
    from seglib.run_lock import warehouse_lock
    from seglib.tracking import (
        log_features_result,
        log_ingest_report,
        log_segments_result,
        log_skipped_families,
        mlflow_run,
    )

    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stages {unknown}; expected some of {STAGES}")
    result = RunResult(ctx)
    with warehouse_lock(spark, cfg, ctx), mlflow_run(cfg, ctx, f"seg-{'-'.join(stages)}"):
        if "generate" in stages:
            result.generate = stage_generate(spark, cfg, ctx)
        if "ingest" in stages:
            result.ingest = stage_ingest(spark, cfg, ctx, full_refresh=full_refresh or "generate" in stages)
            log_ingest_report(result.ingest)
        checks = check_families(spark, cfg, ctx, stages)  # before the expensive stages: a doomed family is known now
        if "features" in stages:
            result.features = stage_features(spark, cfg, ctx)
            log_features_result(result.features)
        if cfg.propensity.enabled and ("propensity" in stages or "propensity_score" in stages):
            result.propensity = stage_propensity(spark, cfg, ctx, train="propensity" in stages, checks=checks)
            result.skipped += [p.skipped for p in result.propensity if p.skipped is not None]
        if cfg.clv.enabled and ("clv" in stages or "clv_score" in stages):
            clv_check = checks.get(CLV_FAMILY)
            if clv_check is not None and clv_check.status == "not_applicable":
                result.skipped.append(clv_check)
            else:
                result.clv = stage_clv(spark, cfg, ctx, train="clv" in stages)
                result.skipped += clv_skipped(cfg, result.clv)
        if "cluster" in stages:
            try:
                result.cluster = stage_cluster(spark, cfg, ctx)
            except UntrainableError as e:
                if cfg.clustering.required:
                    raise RequiredFamilyError(f"the clustering is required: {e}") from e
                log.warning("cluster family skipped: %s", e)
                result.skipped.append(FamilyCheck(CLUSTER_FAMILY, "skipped", str(e)))
            else:
                truth = planted_truth_scores_of(spark, cfg, ctx, result.cluster)
                result.cluster = replace(result.cluster, truth_scores=truth)
        if "segments" in stages:
            result.segments = stage_segments(spark, cfg, ctx, result.skipped)
            log_segments_result(result.segments)
        log_skipped_families(result.skipped)
    return result


def run_snapshots(
    spark: SparkSession,
    cfg: SeglibConfig,
    first: RunContext,
    stages: Sequence[str],
    later: Sequence[date],
    full_refresh: bool = False,
    run_id: str | None = None,
) -> list[RunResult]:
    """Consecutive snapshots in one process (``seg run --as-of A --then B ...``). Generation and ingest run once, as
    of the last snapshot (ingest as of an earlier day would quarantine the later rows as future ones); then each
    snapshot, in order, builds its features and publishes; the later ones score with the first one's champions.
    Returns the loading run's result, then one per snapshot. ``run_id``: the prefix of every run's id."""
    if not later:
        return [run(spark, cfg, first, stages, full_refresh=full_refresh)]
    days = [first.as_of, *sorted(later)]
    if days[1] <= days[0]:
        raise ValueError(f"the later snapshot {days[1]} is not after the first {days[0]}")
    results = []
    loading = tuple(s for s in stages if s in LOADING)
    if loading:
        last = RunContext.create(days[-1], run_id and f"{run_id}-ingest")
        results.append(run(spark, cfg, last, loading, full_refresh=full_refresh))
    for index, day in enumerate(days):
        ctx = first if index == 0 and not run_id else RunContext.create(day, run_id and f"{run_id}-{day.isoformat()}")
        publishing = tuple(SCORING.get(s, s) if index else s for s in stages if s not in LOADING)
        results.append(run(spark, cfg, ctx, publishing))
    return results


__all__ = ["LOADING", "SCORING", "STAGES", "run", "run_snapshots"]
