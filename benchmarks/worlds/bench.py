"""The planted-worlds bench: every world through the real stages, one default clustering, k / ARI / NMI per world.

raw (``write_world``) -> ``stage_ingest`` -> ``stage_features``; the feature table and the pseudonymised truth are
cached as Parquet under ``cache_dir/<world>/`` (keyed by the world's spec), so a method iteration only re-runs the
clustering. The clustering is ``fit_clustering`` with the config's ``clustering`` section for every world: no
per-world setting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from statistics import median

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.worlds.generator import GENERATOR_VERSION, write_world
from benchmarks.worlds.spec import WORLDS, WorldSpec

log = logging.getLogger(__name__)

AS_OF = date(2026, 6, 1)
CACHE_DIR = Path(".seglib/worlds")
TARGET = {"min_ari": 0.90, "median_ari": 0.95, "k_exact_share": 0.80}


@dataclass(frozen=True)
class WorldScore:
    world: str
    planted_k: int
    chosen_k: int
    ari: float
    nmi: float
    subjects: int
    seconds: float
    reason: str
    # Diagnostics of the gap, computed with the truth and never fed to the method: the same default clustering with
    # k fixed to the planted number (what is left when k is right), and a supervised 3-fold multinomial logistic
    # regression on the clustering's own vectors (whether the features hold the segments at all).
    ari_at_planted_k: float
    supervised_accuracy: float


def fingerprint(spec: WorldSpec) -> str:
    """The cache key: the spec, and for an independent world the generator's calibration version."""
    keyed = asdict(spec) | ({"generator_version": GENERATOR_VERSION} if spec.source == "independent" else {})
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:12]


def world_config(base_files: list[str], workdir: Path, overrides: list[str] = ()):
    from seglib.config import load_config

    return load_config(base_files, [f"warehouse.path={workdir}/wh", *overrides])


def build_world(
    spark: SparkSession, spec: WorldSpec, cache_dir: Path, base_files: list[str], as_of: date = AS_OF
) -> Path:
    """The world's cached feature table + truth (``features.parquet``, ``truth.parquet``); built when missing."""
    from seglib.delta_io import read_table
    from seglib.modeling.truth import truth_by_subject
    from seglib.privacy.keys import load_key_ring
    from seglib.run_types import RunContext
    from seglib.stages import read_features, stage_features, stage_ingest
    from seglib.tables import RAW_INPUTS, Warehouse

    folder = cache_dir / spec.name
    stamp = folder / "spec.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint(spec):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cfg = world_config(base_files, folder.resolve())
    wh = Warehouse.of(cfg)
    started = time.monotonic()
    write_world(spark, spec, {n: wh.location(f"raw/{n}") for n in RAW_INPUTS}, wh.location("raw/planted_truth"), as_of)
    ctx = RunContext.create(as_of=as_of, run_id=f"world-{spec.name}")
    stage_ingest(spark, cfg, ctx)
    stage_features(spark, cfg, ctx)
    read_features(spark, cfg, as_of).write.mode("overwrite").parquet(str(folder / "features.parquet"))
    truth = truth_by_subject(read_table(spark, wh.location("raw/planted_truth")), load_key_ring(cfg.privacy))
    truth.write.mode("overwrite").parquet(str(folder / "truth.parquet"))
    shutil.rmtree(folder / "wh", ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    stamp.write_text(json.dumps({"fingerprint": fingerprint(spec), "spec": asdict(spec), "build_seconds": seconds}))
    log.info("world %s built in %.1f s", spec.name, seconds)
    return folder


def load_world(spark: SparkSession, folder: Path) -> tuple[DataFrame, DataFrame]:
    return spark.read.parquet(str(folder / "features.parquet")), spark.read.parquet(str(folder / "truth.parquet"))


def score_world(spark: SparkSession, spec: WorldSpec, folder: Path, clustering_cfg) -> WorldScore:
    """Fit the default clustering on the cached feature table and score it against the planted truth."""
    from seglib.modeling.clustering import assign_clusters, fit_clustering
    from seglib.modeling.truth import scores_against_truth

    features, truth = load_world(spark, folder)
    features = features.cache()
    started = time.monotonic()
    try:
        result = fit_clustering(features, clustering_cfg)
        seconds = round(time.monotonic() - started, 1)
        scores = scores_against_truth(assign_clusters(result.model, features), truth)
        fixed = fit_clustering(features, clustering_cfg.model_copy(update={"k_min": spec.k, "k_max": spec.k}))
        at_planted_k = scores_against_truth(assign_clusters(fixed.model, features), truth)["ari"]
        supervised = supervised_accuracy(PipelineModel(stages=result.model.stages[:-1]).transform(features), truth)
    finally:
        features.unpersist()
    return WorldScore(
        world=spec.name,
        planted_k=spec.k,
        chosen_k=result.k,
        ari=scores["ari"],
        nmi=scores["nmi"],
        subjects=int(scores["subjects"]),
        seconds=seconds,
        reason=result.selection.reason,
        ari_at_planted_k=at_planted_k,
        supervised_accuracy=supervised,
    )


SUPERVISED_FOLDS = 3


def supervised_accuracy(vectors: DataFrame, truth: DataFrame, features_col: str = "features") -> float:
    """Accuracy of a multinomial logistic regression predicting the planted segment from ``features_col``, each
    subject predicted by the model fitted on the other folds (folds by a hash of the subject): a world whose features
    do not separate its segments under supervision cannot judge an unsupervised method."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import StringIndexer

    labelled = StringIndexer(inputCol="planted_segment", outputCol="label", stringOrderType="alphabetAsc").fit(truth)
    data = (
        labelled.transform(vectors.select("subject_id", features_col).join(truth, "subject_id"))
        .withColumn("_fold", F.pmod(F.xxhash64("subject_id"), F.lit(SUPERVISED_FOLDS)))
        .cache()
    )
    try:
        correct = total = 0
        for fold in range(SUPERVISED_FOLDS):
            train, test = data.where(F.col("_fold") != fold), data.where(F.col("_fold") == fold)
            model = LogisticRegression(featuresCol=features_col, maxIter=200, regParam=1e-3).fit(train)
            row = (
                model.transform(test)
                .agg(F.sum((F.col("prediction") == F.col("label")).cast("int")).alias("ok"), F.count("*").alias("n"))
                .first()
            )
            correct, total = correct + int(row["ok"] or 0), total + int(row["n"])
    finally:
        data.unpersist()
    return correct / total if total else float("nan")


def summary(scores: list[WorldScore]) -> dict[str, float]:
    aris = [s.ari for s in scores]
    exact = sum(s.chosen_k == s.planted_k for s in scores) / len(scores)
    return {
        "worlds": len(scores),
        "min_ari": min(aris),
        "median_ari": median(aris),
        "median_nmi": median(s.nmi for s in scores),
        "k_exact_share": exact,
        "target_met": min(aris) >= TARGET["min_ari"]
        and median(aris) >= TARGET["median_ari"]
        and exact >= TARGET["k_exact_share"],
    }


def markdown(scores: list[WorldScore], clustering_cfg, environment: dict) -> str:
    s = summary(scores)
    lines = [
        "# Planted worlds: one default clustering",
        "",
        f"Environment: {json.dumps(environment)}",
        "",
        "Clustering config (the same for every world): "
        f"`{json.dumps(clustering_cfg.model_dump(exclude={'features', 'log_features', 'smoothed_shares'}))}`",
        "",
        "| world | description | planted k | chosen k | ARI | NMI | ARI at planted k | supervised accuracy | subjects "
        "| fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sc in scores:
        mark = "" if sc.chosen_k == sc.planted_k else " ✗"
        lines.append(
            f"| {sc.world} | {WORLDS[sc.world].describe()} | {sc.planted_k} | {sc.chosen_k}{mark} | {sc.ari:.3f} | "
            f"{sc.nmi:.3f} | {sc.ari_at_planted_k:.3f} | {sc.supervised_accuracy:.3f} | {sc.subjects} | {sc.seconds} |"
        )
    lines += [
        "",
        f"min ARI **{s['min_ari']:.3f}** (target ≥ {TARGET['min_ari']}), median ARI **{s['median_ari']:.3f}** "
        f"(target ≥ {TARGET['median_ari']}), median NMI {s['median_nmi']:.3f}, k exact on "
        f"**{s['k_exact_share']:.0%}** (target ≥ {TARGET['k_exact_share']:.0%}): target "
        f"{'met' if s['target_met'] else 'not met'}.",
        "",
        "Diagnostics (the truth is used here only, never by the method): *ARI at planted k* is the same default "
        "clustering with k fixed to the planted number, so ARI - (ARI at planted k) is what the choice of k costs; "
        "*supervised accuracy* is a 3-fold multinomial logistic regression on the clustering's own vectors, so a "
        "world far below 0.95 does not hold its segments in the default feature space at all.",
        "",
        "Selection reasons:",
        "",
        *[f"- {sc.world}: {sc.reason}" for sc in scores],
        "",
    ]
    return "\n".join(lines)


def run_worlds(
    spark: SparkSession,
    base_files: list[str],
    clustering_cfg,
    names: list[str] | None = None,
    cache_dir: Path = CACHE_DIR,
) -> list[WorldScore]:
    scores = []
    for name in names or list(WORLDS):
        folder = build_world(spark, WORLDS[name], cache_dir, base_files)
        score = score_world(spark, WORLDS[name], folder, clustering_cfg)
        log.info("world %s: %s", name, score)
        scores.append(score)
    return scores


RESULTS = Path(__file__).resolve().parent.parent / "results" / "latest-worlds.md"


def bench_worlds(spark: SparkSession, cfg, args, phases) -> dict:
    """``make bench`` section: every world (or ``--worlds``) with ``cfg.clustering``; writes latest-worlds.md."""
    names = args.worlds.split(",") if args.worlds else list(WORLDS)
    base_files = [str(f) for f in (args.config or [Path(__file__).resolve().parents[2] / "conf" / "local.yaml"])]
    with phases.timed("worlds"):
        scores = run_worlds(spark, base_files, cfg.clustering, names, args.worlds_cache)
    environment = {"master": args.master, "spark": spark.version, "as_of": AS_OF.isoformat()}
    results = Path(args.results_dir) / RESULTS.name if args.results_dir else RESULTS
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(markdown(scores, cfg.clustering, environment))
    s = summary(scores)
    return {
        "worlds_min_ari": s["min_ari"],
        "worlds_median_ari": s["median_ari"],
        "worlds_k_exact_share": s["k_exact_share"],
        "worlds_target_met": s["target_met"],
        "worlds": {
            sc.world: {
                "k": sc.chosen_k,
                "planted_k": sc.planted_k,
                "ari": sc.ari,
                "nmi": sc.nmi,
                "ari_at_planted_k": sc.ari_at_planted_k,
                "supervised_accuracy": sc.supervised_accuracy,
            }
            for sc in scores
        },
    }
