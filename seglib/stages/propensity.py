"""Stage ``propensity``: train, gate and register a model per target; score the snapshot with its champion."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import reduce
from typing import TYPE_CHECKING

from pyspark import inheritable_thread_target
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import write_table
from seglib.errors import RequiredFamilyError
from seglib.run_types import FamilyCheck, ModelRegistration, PropensityTargetResult, RunContext
from seglib.stages.inputs import read_features, read_silver
from seglib.tables import Warehouse, propensity_family, table

if TYPE_CHECKING:  # pragma: no cover
    from seglib.config.propensity import TargetConfig
    from seglib.modeling.propensity import PropensityError, TargetFit

log = logging.getLogger(__name__)


class CutoffFeatures:
    """The feature sets of past cut-offs, each built once per run and checkpointed: targets with the same label
    window share them."""

    def __init__(self, cfg: SeglibConfig, silver: dict[str, DataFrame]):
        self.cfg, self.silver = cfg, silver
        self.built: dict[date, DataFrame] = {}

    def build(self, facts: Mapping[str, DataFrame], cutoff: date) -> DataFrame:
        from seglib.features import build_feature_set

        cfg = self.cfg
        return build_feature_set(facts, cfg.features, cutoff, required_consent=cfg.privacy.required_consent).features

    def __call__(self, cutoff: date) -> DataFrame:
        if cutoff not in self.built:
            self.built[cutoff] = self.build(self.silver, cutoff).localCheckpoint()
        return self.built[cutoff]


def stage_propensity(
    spark: SparkSession,
    cfg: SeglibConfig,
    ctx: RunContext,
    train: bool = True,
    score: bool = True,
    checks: dict[str, FamilyCheck] | None = None,
) -> list[PropensityTargetResult]:
    """Per target: train a cross-validated GBT and a logistic baseline on labelled past cut-offs, judge both on a
    later held-out cut-off, register the winner (champion only through the gate); then score the snapshot with the
    champion into models/propensity_scores (one commit per snapshot and target).

    ``checks`` (family -> feasibility, see seglib.modeling.feasibility): a target found untrainable is not trained,
    one whose inputs the data lacks is neither trained nor scored. A target whose training fails on its labels
    (PropensityError) is skipped the same way unless it is ``required``; a skipped target is still scored by its
    champion when one exists."""
    from seglib.modeling import propensity as P
    from seglib.tracking import load_by_alias, propensity_model_name

    features = CutoffFeatures(cfg, read_silver(spark, cfg) if train else {})
    snapshot = read_features(spark, cfg, ctx.as_of) if score else None
    results = []
    checked: dict[str, FamilyCheck | None] = {}
    for name, target in cfg.propensity.targets.items():
        if target.enabled:
            check = (checks or {}).get(propensity_family(name))
            checked[name] = check if check is not None and check.status != "ok" else None
    trainable = {n: cfg.propensity.targets[n] for n, s in checked.items() if s is None} if train else {}
    fits = _train_targets(cfg, ctx, trainable, features)
    for name, skipped in checked.items():
        target = cfg.propensity.targets[name]
        model_name = propensity_model_name(cfg, name)
        registered: ModelRegistration | None = None
        kind = None
        holdout: dict[str, float] = {}
        if skipped is not None and skipped.status == "not_applicable":
            results.append(PropensityTargetResult(name, model_name, None, None, None, None, {}, {}, {}, skipped))
            continue
        if name in fits:
            fit = fits[name]
            if isinstance(fit, P.PropensityError):
                if target.required:
                    raise RequiredFamilyError(f"propensity {name} is required: {fit}") from fit
                skipped = FamilyCheck(propensity_family(name), "skipped", f"{name}: {fit}")
                log.warning("propensity %s: training skipped: %s", name, fit)
            else:
                registered, kind, holdout = fit
        trained = registered.model_version if registered else None
        alias = registered.alias if registered else None
        tiers: dict[str, float] = {}
        sizes: dict[str, int] = {}
        scored_version = None
        if snapshot is not None:  # score
            try:
                model, inputs, scored_version = load_by_alias(model_name)
            except LookupError as e:  # the first version failed the gate: nothing is fit to publish yet
                log.error("propensity %s NOT scored: %s", name, e)
                if skipped is not None:
                    reason = f"{skipped.reason}; no champion of {model_name} to score with"
                else:
                    reason = (
                        f"{name}: not scored, {model_name} v{trained} failed propensity.registry.champion_gate and "
                        "no earlier version is champion"
                    )
                results.append(
                    PropensityTargetResult(name, model_name, trained, alias, None, kind, holdout, {}, {},
                                           FamilyCheck(propensity_family(name), "skipped", reason))
                )  # fmt: skip
                continue
            tiers, sizes = _score_target(cfg, ctx, name, model_name, model, inputs, scored_version, snapshot)
        if skipped is not None:
            skipped = FamilyCheck(skipped.family, skipped.status,
                                  f"{skipped.reason}; scored by the champion v{scored_version}")  # fmt: skip
        results.append(
            PropensityTargetResult(
                name, model_name, trained, alias, scored_version, kind, holdout, tiers, sizes, skipped
            )
        )
    return results


def _score_target(
    cfg: SeglibConfig,
    ctx: RunContext,
    name: str,
    model_name: str,
    model,
    inputs: list[str],
    version: str,
    snapshot: DataFrame,
) -> tuple[dict[str, float], dict[str, int]]:
    """Score the snapshot with one registered model, cut the tiers, log their profiles and replace the snapshot's
    rows of the target in models/propensity_scores: (tier thresholds, tier sizes)."""
    from seglib.modeling import propensity as P
    from seglib.tracking import log_propensity_tiers

    raw = P.scored(model, snapshot.select("subject_id", *inputs)).select("subject_id", P.SCORE, P.RAW_SCORE)
    raw.persist()  # read by the quantiles, the tier profiles and the write
    tiers = P.tier_thresholds(raw, cfg.propensity)
    scores = raw.withColumn("tier", P.tier_of(F.col(P.RAW_SCORE), tiers))
    profiles = P.tier_profiles(scores.join(snapshot, "subject_id"), inputs)
    log_propensity_tiers(name, tiers, profiles)
    spec = Warehouse.of(cfg).spec("models/propensity_scores")
    constants = {"snapshot_date": F.lit(ctx.as_of), "target": F.lit(name), "model_name": F.lit(model_name),
                 "model_version": F.lit(version), "run_id": F.lit(ctx.run_id)}  # fmt: skip
    out = table("models", "propensity_scores").conform(scores.withColumnRenamed(P.SCORE, "score"), constants)
    write_table(out, spec, mode="overwrite",
                replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}' AND target = '{name}'")  # fmt: skip
    raw.unpersist()
    sizes = {p["tier"]: p["subjects"] for p in profiles}
    log.info("propensity %s scored by %s v%s: tiers %s (thresholds %s)", name, model_name, version, sizes, tiers)
    return tiers, sizes


def _train_targets(
    cfg: SeglibConfig, ctx: RunContext, targets: Mapping[str, TargetConfig], features: CutoffFeatures
) -> dict[str, tuple[ModelRegistration, str, dict[str, float]] | PropensityError]:
    """Target -> (the registration, the model kind, the holdout metrics), or the PropensityError its training raised.

    The leakage check runs first, once per run (every target reads the same feature builds), then each target's
    cut-offs are labelled. The fits run at once, ``propensity.parallelism`` targets at a time: on small training sets
    a fit is a long chain of short Spark jobs (each boosting iteration, each fold) whose per-job latency leaves the
    cores idle, so the targets' jobs fill each other's gaps. Each fit reads its
    own rows in their canonical order with its own seed, so running them together changes no model. MLflow logging
    and registration stay in the caller's thread, in target order (the active run is per thread; versions are
    numbered as before)."""
    from seglib.modeling import propensity as P
    from seglib.tracking import log_propensity, propensity_model_name

    pcfg = cfg.propensity
    columns = list(pcfg.features)
    plans = cfg.features.demographics.plan_order
    out: dict[str, tuple[ModelRegistration, str, dict[str, float]] | PropensityError] = {}
    prepared: dict[str, tuple[P.Cutoffs, DataFrame, DataFrame]] = {}
    leakage_checked = not pcfg.check_leakage
    for name, target in targets.items():
        cutoffs = P.cutoffs_for(ctx.as_of, target, pcfg)
        if not leakage_checked:
            latest = cutoffs.training[-1]
            P.check_no_leakage(features.build, features.silver, latest, columns, features(latest))
            leakage_checked = True
        try:
            frames = [
                P.labelled_snapshot(features(c), target, pcfg, features.silver, c, columns, plans)
                for c in (*cutoffs.training, cutoffs.holdout)
            ]
        except P.PropensityError as e:
            out[name] = e
            continue
        prepared[name] = cutoffs, reduce(DataFrame.unionByName, frames[:-1]), frames[-1]

    def fit(name: str) -> TargetFit:
        cutoffs, train_set, holdout = prepared[name]
        holdout_set = holdout.persist()
        try:
            return P.fit_target(name, train_set, holdout_set, cutoffs, pcfg)
        finally:
            holdout_set.unpersist()

    if not prepared:
        return out
    with ThreadPoolExecutor(max_workers=min(pcfg.parallelism, len(prepared))) as pool:
        futures = {name: pool.submit(inheritable_thread_target(fit), name) for name in prepared}
        for name, future in futures.items():  # in target order (a labelling error is already in ``out``)
            try:
                done = future.result()
            except P.PropensityError as e:
                out[name] = e
                continue
            registered = log_propensity(cfg, ctx, done, propensity_model_name(cfg, name))
            out[name] = registered, done.model_kind, {**done.gbt.flat("gbt_"), **done.baseline.flat("baseline_")}
    return out
