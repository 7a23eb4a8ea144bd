"""The orchestrator: the stages of a seglib run, each returning a typed result, and the one function that runs them.

``seg`` (every sub-command that computes something) and the ``jobs/*.py`` entry points both call :func:`run`; a stage
can run alone (``seg ingest``, ``seg features`` ...) or chained (``seg run``). :func:`run` holds the warehouse's run
lock for its whole duration (two runs on one warehouse are serialized: the second fails at once with a clear
message) and wraps the stages in one MLflow run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import current_version, read_table, table_exists, write_table
from seglib.errors import MissingInputError, RequiredFamilyError, UntrainableError
from seglib.modeling.feasibility import FamilyCheck
from seglib.tables import CLUSTER_FAMILY, CLV_FAMILY, RAW_INPUTS, Warehouse, propensity_family, table, tables_in

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


@dataclass(frozen=True)
class RunContext:
    """Identity and clock of one run: ``as_of`` is the snapshot date; ``now`` the run's reference instant."""

    as_of: date
    now: datetime
    run_id: str

    @classmethod
    def create(cls, as_of: date | None = None, run_id: str | None = None) -> RunContext:
        wall = datetime.now(UTC).replace(tzinfo=None)
        day = as_of or wall.date()
        # Replaying history: "now" is the snapshot cut-off (00:00 UTC of as_of), so nothing after it counts as
        # valid yet and the run's output does not depend on the day it is replayed.
        now = wall if day >= wall.date() else datetime.combine(day, time(0, 0))
        return cls(as_of=day, now=now, run_id=run_id or uuid.uuid4().hex[:16])


@dataclass(frozen=True)
class GenerateResult:
    counts: dict[str, int]


@dataclass(frozen=True)
class FeaturesResult:
    location: str
    rfm_thresholds: dict[str, Any] | None
    text_engine: str
    text_model: Any = None  # the fitted Spark NLP PipelineModel when text_engine is sparknlp


@dataclass(frozen=True)
class PropensityTargetResult:
    target: str
    model_name: str
    trained_version: str | None  # None when only scoring
    alias: str | None  # the trained version's alias after the gate
    scored_version: str | None  # the champion that scored the snapshot
    model_kind: str | None
    holdout: dict[str, float]  # holdout metrics of the GBT and the baseline (prefixed gbt_/baseline_)
    tiers: dict[str, float]
    tier_sizes: dict[str, int]
    skipped: FamilyCheck | None = None  # why the target was not trained (or not scored), None when it was


@dataclass(frozen=True)
class ClvResult:
    model_name: str
    trained_version: str | None  # None when only scoring or when the new fit was refused
    alias: str | None  # the trained version's alias after the gate
    scored_version: str | None  # None: no champion to score with
    refused: str | None  # why the new fit was not published (not converged, at a bound, ...)
    holdout: dict[str, float]  # the calibration fit's holdout comparison (empty when only scoring)
    by_frequency: list[dict[str, Any]]
    parameters: dict[str, float]  # the scoring model's BG/NBD and Gamma-Gamma parameters
    brackets: dict[str, float]  # bracket -> predicted CLV threshold
    bracket_sizes: dict[str, int]
    gamma_gamma_method: str | None = None  # the scoring model's spend model: mle | shrunk_mean (None: not scored)


@dataclass(frozen=True)
class ClusterResult:
    model_name: str  # the model that scored the published snapshot (the champion if the new fit is a challenger)
    model_version: str
    mlflow_run_id: str  # the run that logged the new fit
    alias: str  # what the new fit became: champion or challenger
    gate_reason: str
    k: int
    silhouette: float
    personas: dict
    segments: dict
    tables: dict[str, str]
    selection_reason: str = ""
    dropped_features: dict[str, str] = field(default_factory=dict)
    truth_scores: dict[str, float] = field(default_factory=dict)  # synthetic data: agreement with the planted truth


@dataclass(frozen=True)
class SegmentsResult:
    snapshot_date: date
    previous_snapshot_date: date | None
    subjects: int
    transitions: int
    table_versions: dict[str, int]
    percentiles: dict[str, float | None]
    sizes: list[dict[str, Any]]  # per family and segment: name, size, share, meets_min_size
    tables: dict[str, str]


@dataclass
class RunResult:
    """What a run did, stage by stage (None: the stage did not run), and the model families it could not produce."""

    context: RunContext
    generate: GenerateResult | None = None
    ingest: Any = None  # seglib.ingest.run.IngestReport
    features: FeaturesResult | None = None
    propensity: list[PropensityTargetResult] = field(default_factory=list)
    clv: ClvResult | None = None
    cluster: ClusterResult | None = None
    segments: SegmentsResult | None = None
    skipped: list[FamilyCheck] = field(default_factory=list)  # skipped or not applicable, with the reason

    @property
    def partial(self) -> bool:
        """True when a family that applies to this data was not trained or not published (schedulers alert on it;
        a family the data cannot have, ``not_applicable``, does not count)."""
        return any(c.status == "skipped" for c in self.skipped)


# ---------------------------------------------------------------------------------------------------- stages


def stage_generate(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> GenerateResult:
    """Write the five raw tables (and the planted truth) from the synthetic generator."""
    from seglib.generate import generate_raw_tables

    wh = Warehouse.of(cfg)
    locations = {name: wh.location(f"raw/{name}") for name in RAW_INPUTS}
    counts = generate_raw_tables(spark, cfg.generator, locations, wh.location("raw/planted_truth"), ctx.as_of)
    return GenerateResult(counts)


def stage_ingest(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, full_refresh: bool = False):
    """Raw -> validated, de-duplicated, pseudonymous silver tables (+ quarantine and DQ metrics)."""
    from seglib.ingest import run_ingest

    return run_ingest(spark, cfg, run_id=ctx.run_id, now=ctx.now, full_refresh=full_refresh, as_of=ctx.as_of)


def read_silver(spark: SparkSession, cfg: SeglibConfig) -> dict[str, DataFrame]:
    """Every silver table; one that was never written reads as empty with its declared schema."""
    wh = Warehouse.of(cfg)
    out = {}
    for t in tables_in("silver"):
        location = wh.location(t)
        out[t.name] = (
            read_table(spark, location) if table_exists(spark, location) else spark.createDataFrame([], t.schema)
        )
    return out


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


def read_features(spark: SparkSession, cfg: SeglibConfig, as_of: date) -> DataFrame:
    location = Warehouse.of(cfg).location("features/subject_features")
    if not table_exists(spark, location):
        raise MissingInputError(f"no feature table at {location}: run `seg features` (or `seg run`) first")
    return read_table(spark, location).where(F.col("snapshot_date") == F.lit(as_of))


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
    from seglib.features import build_feature_set
    from seglib.modeling import propensity as P
    from seglib.tracking import load_by_alias, log_propensity_tiers, propensity_model_name

    pcfg = cfg.propensity
    silver = read_silver(spark, cfg) if train else {}
    built: dict[date, DataFrame] = {}

    def features_at(facts, cutoff: date) -> DataFrame:
        return build_feature_set(facts, cfg.features, cutoff, required_consent=cfg.privacy.required_consent).features

    def cached_features(cutoff: date) -> DataFrame:
        if cutoff not in built:  # targets with the same label window share their cut-offs' feature builds
            built[cutoff] = features_at(silver, cutoff).localCheckpoint()
        return built[cutoff]

    snapshot = read_features(spark, cfg, ctx.as_of) if score else None
    results = []
    leakage_checked = not pcfg.check_leakage
    for name, target in pcfg.targets.items():
        if not target.enabled:
            continue
        model_name = propensity_model_name(cfg, name)
        trained = alias = kind = None
        holdout: dict[str, float] = {}
        check = (checks or {}).get(propensity_family(name))
        skipped = check if check is not None and check.status != "ok" else None
        if skipped is not None and skipped.status == "not_applicable":
            results.append(PropensityTargetResult(name, model_name, None, None, None, None, {}, {}, {}, skipped))
            continue
        if train and skipped is None:
            try:
                trained, alias, kind, holdout = _train_propensity(cfg, ctx, name, target, model_name, features_at,
                                                                  cached_features, silver, leakage_checked)  # fmt: skip
            except P.PropensityError as e:
                if target.required:
                    raise RequiredFamilyError(f"propensity {name} is required: {e}") from e
                skipped = FamilyCheck(propensity_family(name), "skipped", f"{name}: {e}")
                log.warning("propensity %s: training skipped: %s", name, e)
            leakage_checked = True
        tiers: dict[str, float] = {}
        sizes: dict[str, int] = {}
        scored_version = None
        if score:
            try:
                model, inputs, scored_version = load_by_alias(model_name)
            except LookupError as e:  # the first version failed the gate: nothing is fit to publish yet
                log.error("propensity %s NOT scored: %s", name, e)
                if skipped is not None:
                    reason = f"{skipped.reason}; no champion of {model_name} to score with"
                else:
                    reason = f"{name}: not scored, {model_name} v{trained} failed propensity.champion_gate and no "
                    reason += "earlier version is champion"
                results.append(
                    PropensityTargetResult(name, model_name, trained, alias, None, kind, holdout, {}, {},
                                           FamilyCheck(propensity_family(name), "skipped", reason))
                )  # fmt: skip
                continue
            raw = P.scored(model, snapshot.select("subject_id", *inputs)).select("subject_id", P.SCORE, P.RAW_SCORE)
            raw.persist()  # read by the quantiles, the tier profiles and the write
            tiers = P.tier_thresholds(raw, pcfg)
            scores = raw.withColumn("tier", P.tier_of(F.col(P.RAW_SCORE), tiers))
            profiles = P.tier_profiles(scores.join(snapshot, "subject_id"), inputs)
            log_propensity_tiers(name, tiers, profiles)
            out = scores.select(
                "subject_id",
                F.lit(ctx.as_of).alias("snapshot_date"),
                F.lit(name).alias("target"),
                F.col(P.SCORE).alias("score"),
                "tier",
                F.lit(model_name).alias("model_name"),
                F.lit(scored_version).alias("model_version"),
                F.lit(ctx.run_id).alias("run_id"),
            )
            spec = Warehouse.of(cfg).spec("models/propensity_scores")
            write_table(
                out,
                spec,
                mode="overwrite",
                replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}' AND target = '{name}'",
            )
            raw.unpersist()
            sizes = {p["tier"]: p["subjects"] for p in profiles}
            log.info("propensity %s scored by %s v%s: tiers %s (thresholds %s)", name, model_name,
                     scored_version, sizes, tiers)  # fmt: skip
        if skipped is not None:
            skipped = FamilyCheck(skipped.family, skipped.status,
                                  f"{skipped.reason}; scored by the champion v{scored_version}")  # fmt: skip
        results.append(
            PropensityTargetResult(
                name, model_name, trained, alias, scored_version, kind, holdout, tiers, sizes, skipped
            )
        )
    return results


def _train_propensity(
    cfg: SeglibConfig,
    ctx: RunContext,
    name: str,
    target,
    model_name: str,
    features_at,
    cached_features,
    silver: dict[str, DataFrame],
    leakage_checked: bool,
) -> tuple[str, str, str, dict[str, float]]:
    """Label the target's cut-offs, fit, judge on the holdout, log and register: (version, alias, model kind,
    holdout metrics). The leakage check runs first, once per run (every target reads the same feature builds)."""
    from seglib.modeling import propensity as P
    from seglib.tracking import log_propensity

    pcfg = cfg.propensity
    cutoffs = P.cutoffs_for(ctx.as_of, target, pcfg)
    columns = list(pcfg.features)
    if not leakage_checked:
        latest = cutoffs.training[-1]
        P.check_no_leakage(features_at, silver, latest, columns, cached_features(latest))
    plans = cfg.features.demographics.plan_order
    frames = [
        P.labelled_snapshot(cached_features(c), target, pcfg, silver, c, columns, plans)
        for c in (*cutoffs.training, cutoffs.holdout)
    ]
    train_set = reduce(DataFrame.unionByName, frames[:-1])
    holdout_set = frames[-1].persist()
    try:
        fit = P.fit_target(name, train_set, holdout_set, cutoffs, pcfg)
    finally:
        holdout_set.unpersist()
    logged = log_propensity(cfg, ctx, fit, model_name)
    holdout = {**fit.gbt.flat("gbt_"), **fit.baseline.flat("baseline_")}
    return logged["model_version"], logged["alias"], fit.model_kind, holdout


def _train_clv(cfg: SeglibConfig, orders: DataFrame, summary: DataFrame, as_of: date):
    """Fit at the calibration cut-off, judge on the holdout after it, refit on ``summary`` (as_of), log, register and
    gate: (version, alias, holdout metrics, the holdout table by frequency). ClvError when a fit is refused."""
    from datetime import timedelta

    from seglib.modeling import clv as C
    from seglib.modeling.clv_model import ClvParameters
    from seglib.tracking import log_clv

    c = cfg.clv
    calibration_cutoff = as_of - timedelta(days=c.holdout_days)
    calibration = C.btyd_summary(orders, calibration_cutoff, c.period).persist()
    try:
        validation = C.fit_models(calibration, c)
        comparison = C.holdout_comparison(orders, calibration_cutoff, as_of, validation.bgnbd.params, c, calibration)
    finally:
        calibration.unpersist()
    log.info("clv holdout %s..%s: predicted %.0f vs actual %.0f purchase %ss (%+.1f%%), r = %.3f, MAE %.3f",
             calibration_cutoff, as_of, comparison.predicted_total, comparison.actual_total, c.period,
             100 * comparison.relative_error, comparison.correlation, comparison.mae)  # fmt: skip
    models = C.fit_models(summary, c)
    fitted = ClvParameters(models.bgnbd.params, models.spend.params, c.period, c.horizon_days, c.annual_discount_rate)
    logged = log_clv(cfg, models, validation, comparison, fitted)
    return logged["model_version"], logged["alias"], comparison.flat(""), comparison.by_frequency


def stage_clv(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, train: bool = True) -> ClvResult:
    """Predicted CLV. Train: BG/NBD + Gamma-Gamma fitted at the calibration cut-off (as_of - clv.holdout_days) and
    judged on the purchases of the holdout after it, then refitted on every order before as_of and registered (the
    alias gated on the holdout comparison). Score: the champion's parameters predict every consenting buyer of the
    snapshot into models/clv_predictions (one commit per snapshot)."""
    from seglib.features import consented_subjects
    from seglib.modeling import clv as C
    from seglib.tracking import clv_model_name, load_clv_parameters

    c = cfg.clv
    silver = read_silver(spark, cfg)
    # A revoked consent removes the subject from fitting and scoring, as from the features.
    consented = consented_subjects(silver["consents"], cfg.privacy.required_consent)
    orders = silver["orders"].join(consented, "subject_id", "left_semi")
    name = clv_model_name(cfg)
    trained = alias = None
    holdout: dict[str, float] = {}
    by_frequency: list[dict[str, Any]] = []
    summary = C.btyd_summary(orders, ctx.as_of, c.period).persist()  # fit, predictions and the join read it
    refused = None
    if train:
        try:
            trained, alias, holdout, by_frequency = _train_clv(cfg, orders, summary, ctx.as_of)
        except C.ClvError as e:  # refused, as the stage must: the champion (if any) still scores the snapshot
            refused = str(e)
            log.error("clv: the new fit is refused, nothing registered: %s", e)
    try:
        parameters, scored_version = load_clv_parameters(name)
    except LookupError as e:
        log.error("clv NOT scored: %s", e)
        summary.unpersist()
        return ClvResult(name, trained, alias, None, refused, holdout, by_frequency, {}, {}, {})
    if parameters.period != c.period:
        summary.unpersist()
        raise C.ClvError(f"{name} v{scored_version} counts {parameters.period}s but clv.period is {c.period}: "
                         "retrain (seg clv train) or set clv.period to the champion's")  # fmt: skip
    predictions = C.predict_clv(summary, parameters.bgnbd, parameters.spend, c, parameters.horizon_days)
    predictions = predictions.persist()  # read by the quantiles and the write
    thresholds = C.bracket_thresholds(predictions, c.brackets)
    constants = {
        "snapshot_date": F.lit(ctx.as_of),
        "period": F.lit(parameters.period),
        "horizon_days": F.lit(parameters.horizon_days),
        "model_name": F.lit(name),
        "model_version": F.lit(scored_version),
        "run_id": F.lit(ctx.run_id),
    }
    declared = [col.name for col in table("models", "clv_predictions").columns]
    out = C.with_clv_brackets(predictions, thresholds).select(
        *[constants[col].alias(col) if col in constants else col for col in declared]
    )
    spec = Warehouse.of(cfg).spec("models/clv_predictions")
    write_table(out, spec, mode="overwrite", replace_where=f"snapshot_date = DATE'{ctx.as_of.isoformat()}'")
    sizes = {r["clv_bracket"]: r["n"] for r in read_table(spark, spec.location)
             .where(F.col("snapshot_date") == F.lit(ctx.as_of)).groupBy("clv_bracket").agg(F.count("*").alias("n"))
             .collect()}  # fmt: skip
    predictions.unpersist()
    summary.unpersist()
    params = {f"bgnbd_{k}": v for k, v in vars(parameters.bgnbd).items()}
    spend = "gamma_gamma" if parameters.spend_method == "mle" else parameters.spend_method
    params |= {f"{spend}_{k}": v for k, v in vars(parameters.spend).items()}
    log.info("clv scored by %s v%s (spend: %s): brackets %s (thresholds %s)", name, scored_version,
             parameters.spend_method, sizes, thresholds)  # fmt: skip
    return ClvResult(name, trained, alias, scored_version, refused, holdout, by_frequency, params, thresholds, sizes,
                     parameters.spend_method)  # fmt: skip


# Fewer subjects than this per cluster of clustering.k_min: no clustering is fitted (nothing to learn segments from).
MIN_SUBJECTS_PER_CLUSTER = 10


def split_sparse(features: DataFrame, sparse_when: str | None) -> tuple[DataFrame, DataFrame | None]:
    """(subjects to cluster, subjects with too little data for it): segments.sparse_when, a rule expression."""
    if sparse_when is None:
        return features, None
    from seglib.segments.rules import expression_column

    sparse = expression_column(features, sparse_when, "segments.sparse_when")
    return features.where(~sparse), features.where(sparse)


def stage_cluster(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext) -> ClusterResult:
    """Fit clusterings over the k range on the subjects with enough data, pick k, log + register the pipeline in
    MLflow (champion only if it passes the gate), publish the snapshot's cluster segments (stable ids, minimum size,
    personas); the subjects with too little data are placed by the segment classifier or the fallback."""
    from seglib.modeling.clustering import assign_clusters, fit_clustering
    from seglib.modeling.truth import planted_truth_scores
    from seglib.segments.snapshot import publish_snapshot, publishing_model
    from seglib.tracking import log_clustering, log_truth_scores

    features, sparse = split_sparse(read_features(spark, cfg, ctx.as_of), cfg.segments.sparse_when)
    subjects, least = features.count(), MIN_SUBJECTS_PER_CLUSTER * cfg.clustering.k_min
    if subjects < least:
        raise UntrainableError(
            f"cluster: {subjects} subjects to cluster at {ctx.as_of} (segments.sparse_when left out); at least "
            f"{MIN_SUBJECTS_PER_CLUSTER} per cluster of clustering.k_min needed"
        )
    result = fit_clustering(features, cfg.clustering)
    logged = log_clustering(cfg, ctx, result)
    model, feature_cols, published_by = publishing_model(cfg, result.model, result.feature_cols, logged)
    assigned = assign_clusters(model, features.select("subject_id", *feature_cols)).withColumnRenamed(
        "cluster_probability", "max_probability"
    )
    published = publish_snapshot(spark, cfg, ctx, assigned, features, published_by, sparse=sparse)
    # Synthetic data only: how well the published segments recover the generator's planted ones, over the clustered
    # subjects (the clustering's figure) and over every subject (classifier and fallback included).
    snapshot = read_table(spark, published.tables["cluster_assignments"]).where(
        F.col("snapshot_date") == F.lit(ctx.as_of)
    )
    truth = planted_truth_scores(spark, cfg, snapshot.where(F.col("assignment_source") == "cluster"), "segment_id")
    everyone = planted_truth_scores(spark, cfg, snapshot, "segment_id") if sparse is not None else None
    truth = {k: truth[k] for k in ("ari", "nmi", "subjects") if k in truth} if truth else {}
    if everyone:
        truth |= {f"{k}_all_subjects": everyone[k] for k in ("ari", "nmi", "subjects")}
    if truth:
        log.info("planted truth: %s", truth)
        log_truth_scores(cfg, logged["mlflow_run_id"], truth)
    return ClusterResult(
        model_name=published_by["model_name"],
        model_version=published_by["model_version"],
        mlflow_run_id=logged["mlflow_run_id"],
        alias=logged["alias"],
        gate_reason=logged["gate_reason"],
        k=result.k,
        silhouette=result.silhouette,
        personas=published.names,
        segments=published.report(),
        tables=published.tables,
        selection_reason=result.selection.reason,
        dropped_features=result.dropped_features,
        truth_scores=truth,
    )


def stage_segments(
    spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, skipped: Sequence[FamilyCheck] = ()
) -> SegmentsResult:
    """Combine the snapshot's rule segments, cluster segments, propensity tiers and CLV brackets into the published
    segment tables (membership, history, transitions, definitions, profiles), every row with its lineage. Each input
    is read at one pinned Delta version, recorded in the lineage. A model family with no rows for the snapshot
    (``skipped`` says why, and is recorded in segment_publications) is published without: the rules need only the
    features."""
    from seglib.segments import assign as A
    from seglib.segments.history import PUBLICATIONS, publish_segments
    from seglib.segments.profiles import segment_profiles

    wh = Warehouse.of(cfg)
    versions: dict[str, int] = {}

    def pinned(name: str, snapshot: bool = True) -> DataFrame | None:
        location = wh.location(name)
        version = current_version(spark, location)
        if version is None:
            return None
        versions[name] = version
        df = read_table(spark, location, version=version)
        return df.where(F.col("snapshot_date") == F.lit(ctx.as_of)) if snapshot else df

    def or_empty(df: DataFrame | None, name: str) -> DataFrame:
        return df if df is not None else spark.createDataFrame([], table(*name.split("/")).schema)

    targets = list(cfg.propensity.targets)
    features = pinned("features/subject_features")
    if features is not None:
        A.check_rules(cfg, features, targets)
    if features is None or features.isEmpty():
        raise MissingInputError(f"no features for snapshot {ctx.as_of}: run `seg features` (or `seg run`) for it "
                                "first")  # fmt: skip
    clusters = or_empty(pinned("models/cluster_assignments"), "models/cluster_assignments")
    if clusters.isEmpty() and not any(c.family == CLUSTER_FAMILY for c in skipped):
        log.warning("segments of %s: no cluster segments for the snapshot (run `seg cluster`): published without "
                    "the cluster family", ctx.as_of)  # fmt: skip
    scores = or_empty(pinned("models/propensity_scores"), "models/propensity_scores")
    clv = or_empty(pinned("models/clv_predictions"), "models/clv_predictions")
    personas = or_empty(pinned("models/cluster_profiles"), "models/cluster_profiles")
    events = or_empty(pinned("silver/events", snapshot=False), "silver/events")
    orders = or_empty(pinned("silver/orders", snapshot=False), "silver/orders")
    models = {}
    for df in (clusters, scores, clv):
        for r in df.select("model_name", "model_version").distinct().collect():  # a few rows
            if r["model_name"]:
                models[r["model_name"]] = r["model_version"]
    lineage = A.Lineage(ctx.run_id, A.config_hash(cfg), versions, models)
    assignment = A.assign_segments(cfg, ctx.as_of, ctx.now, features, clusters, scores, clv, events, lineage, targets)
    rows = assignment.rows.localCheckpoint()  # read by the definitions, the profiles and every write

    definitions = [
        *A.rule_definitions(cfg, assignment.percentiles),
        *A.cluster_definitions(cfg, [r.asDict() for r in personas.collect()]),  # k rows
        *A.threshold_definitions(A.score_ranges(rows), cfg),
    ]
    definitions_df = A.definitions_frame(spark, definitions, ctx.as_of, lineage)
    profiles = A.profiles_frame(
        segment_profiles(rows, events, orders, ctx.as_of, cfg.segments), rows, definitions_df, ctx.as_of, lineage
    )
    publication = publish_segments(
        spark, wh, ctx.as_of, rows, definitions_df, profiles, A.exclusive_families(cfg, targets), lineage, ctx.now,
        skipped=[(c.family, c.status, c.reason) for c in skipped],
    )  # fmt: skip
    sizes = [
        r.asDict()
        for r in read_table(spark, wh.location("segments/segment_profiles"))
        .where(F.col("snapshot_date") == F.lit(ctx.as_of))
        .select("segment_family", "segment_id", "segment_name", "size", "share", "meets_min_size")
        .orderBy("segment_family", F.desc("size"), "segment_id")
        .collect()  # one row per segment
    ]
    names = ("segment_membership", "segment_membership_history", "segment_transitions", "segment_definitions",
             "segment_profiles", PUBLICATIONS.name)  # fmt: skip
    return SegmentsResult(
        ctx.as_of,
        publication.previous_snapshot_date,
        publication.subjects,
        publication.transitions,
        publication.table_versions,
        assignment.percentiles,
        sizes,
        {n: wh.location(f"segments/{n}") for n in names},
    )


# ---------------------------------------------------------------------------------------------------- orchestrator


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
                result.skipped += _clv_skipped(cfg, result.clv)
        if "cluster" in stages:
            try:
                result.cluster = stage_cluster(spark, cfg, ctx)
            except UntrainableError as e:
                if cfg.clustering.required:
                    raise RequiredFamilyError(f"the clustering is required: {e}") from e
                log.warning("cluster family skipped: %s", e)
                result.skipped.append(FamilyCheck(CLUSTER_FAMILY, "skipped", str(e)))
        if "segments" in stages:
            result.segments = stage_segments(spark, cfg, ctx, result.skipped)
            log_segments_result(result.segments)
        log_skipped_families(result.skipped)
    return result


def check_families(
    spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, stages: Sequence[str]
) -> dict[str, FamilyCheck]:
    """Family -> whether it can be trained on this data (seglib.modeling.feasibility), for the families the run
    trains; seconds of Spark work. A family marked ``required`` that cannot be trained fails the run here."""
    from seglib.modeling.feasibility import check_clv, check_propensity_targets

    training_propensity = cfg.propensity.enabled and "propensity" in stages
    training_clv = cfg.clv.enabled and "clv" in stages
    if not (training_propensity or training_clv):
        return {}
    silver = read_silver(spark, cfg)
    found = [*(check_propensity_targets(silver, cfg, ctx.as_of) if training_propensity else ())]
    if training_clv:
        found.append(check_clv(silver, ctx.as_of))
    failed = [c for c in found if c.status != "ok"]
    for c in failed:
        log.warning("%s %s: %s", c.family, c.status.replace("_", " "), c.reason)
    required = [c.reason for c in failed if _required(cfg, c.family)]
    if required:
        raise RequiredFamilyError(f"required families cannot be trained on this data: {'; '.join(required)}")
    return {c.family: c for c in found}


def _required(cfg: SeglibConfig, family: str) -> bool:
    if family == CLV_FAMILY:
        return cfg.clv.required
    if family == CLUSTER_FAMILY:
        return cfg.clustering.required
    targets = {propensity_family(name): t for name, t in cfg.propensity.targets.items()}
    return family in targets and targets[family].required


def _clv_skipped(cfg: SeglibConfig, clv: ClvResult) -> list[FamilyCheck]:
    """The CLV family's skip, if any: a refused new fit (the champion, if any, still scored), or nothing scored (a
    first fit that failed the gate). A new fit that only lost to the champion is the gate at work, not a skip."""
    reasons = []
    if clv.refused:
        reasons.append(f"the new fit was refused ({clv.refused})")
    if not clv.scored_version:
        if clv.trained_version and not clv.refused:
            h = clv.holdout
            reasons.append(f"the new fit v{clv.trained_version} failed clv.champion_gate (holdout: "
                           f"{h.get('relative_error', float('nan')):+.1%} predicted against actual purchases, "
                           f"per-subject r = {h.get('correlation', float('nan')):.3f})")  # fmt: skip
        reasons.append(f"not scored: {clv.model_name} has no champion")
    elif clv.refused:
        reasons.append(f"scored by the champion v{clv.scored_version}")
    if not reasons:
        return []
    reason = "clv: " + "; ".join(reasons)
    if cfg.clv.required:
        raise RequiredFamilyError(f"clv is required: {reason}")
    return [FamilyCheck(CLV_FAMILY, "skipped", reason)]


def snapshot_summary(spark: SparkSession, cfg: SeglibConfig, as_of: date) -> list[dict[str, Any]]:
    """The cluster segments of one snapshot with size and share (k rows: safe to bring to the driver)."""
    location = Warehouse.of(cfg).location("models/cluster_profiles")
    rows = read_table(spark, location).where(F.col("snapshot_date") == F.lit(as_of)).orderBy(F.desc("size")).collect()
    return [r.asDict() for r in rows]


__all__ = [
    "STAGES",
    "ClusterResult",
    "ClvResult",
    "FeaturesResult",
    "GenerateResult",
    "RunContext",
    "RunResult",
    "SegmentsResult",
    "read_features",
    "read_silver",
    "run",
    "snapshot_summary",
    "stage_cluster",
    "stage_clv",
    "stage_features",
    "stage_generate",
    "stage_ingest",
    "stage_segments",
]
