"""``python -m benchmarks.run``: ingest throughput, feature-build growth (N vs 2N) and Spark RFM vs a DuckDB reference.

Every phase runs on data this harness generates under ``--workdir``; see benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.report import markdown_table, write_results

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SeglibConfig
    from seglib.config.generator import GeneratorConfig
    from seglib.run_types import RunContext

log = logging.getLogger("benchmarks")

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "local.yaml"
DEFAULT_AS_OF = date(2025, 6, 30)  # fixed, so runs on different days generate the same data
WORKDIR_MARKER = ".seglib-bench"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=20_000_000, help="target raw events N (default 20000000)")
    p.add_argument("--skip-2n", action="store_true", help="skip the 2N feature build and the growth ratio")
    p.add_argument("--workdir", default=".seglib/bench", help="scratch folder, wiped at start (default .seglib/bench)")
    p.add_argument("--as-of", type=date.fromisoformat, default=DEFAULT_AS_OF, help="snapshot date YYYY-MM-DD")
    p.add_argument("--keep", action="store_true", help="keep the workdir's tables afterwards")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed 1/256-sample feature build")
    p.add_argument("--repeat", type=int, default=3, help="runs of each RFM engine; the best counts (default 3)")
    p.add_argument("--master", default="local[2]", help="local Spark master (default local[2])")
    p.add_argument("--shuffle-partitions", type=int, default=None, help="default: chosen from --events")
    p.add_argument("--driver-memory", default="12g")
    p.add_argument("--config", action="append", default=None, metavar="FILE", help="default: conf/local.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--results-dir", type=Path, default=None, help="default: benchmarks/results")
    p.add_argument(
        "--only",
        choices=["all", "pipeline", "ingest", "clustering", "propensity", "worlds", "propensity-real"],
        default="all",
        help="all (default) | pipeline (ingest, features, RFM) | ingest (generate, floor, ingest) | clustering "
        "(k selection vs scikit-learn) | propensity (GBT training vs scikit-learn) | worlds (the default clustering on "
        "planted worlds: k, ARI, NMI per world) | propensity-real (purchase propensity on the CDNOW orders vs BG/NBD "
        "and recency)",
    )
    p.add_argument("--cluster-rows", type=int, default=1_000_000, help="clustering matrix rows N (default 1000000)")
    p.add_argument("--cluster-dims", type=int, default=20, help="clustering matrix features (default 20)")
    p.add_argument("--cluster-blobs", type=int, default=7, help="planted blobs of the clustering matrix (default 7)")
    p.add_argument("--cluster-spread", type=float, default=1.0, help="std of the blob centres (noise std is 1)")
    p.add_argument("--worlds", default=None, help="worlds: comma-separated names (default: every world)")
    p.add_argument("--worlds-cache", type=Path, default=Path(".seglib/worlds"), help="cached world feature tables")
    p.add_argument("--propensity-rows", type=int, default=1_000_000, help="propensity matrix rows (default 1000000)")
    p.add_argument("--propensity-dims", type=int, default=40, help="propensity matrix features (default 40)")
    p.add_argument("--real-customers", type=int, default=None, help="propensity-real: first N CDNOW customers")
    return p.parse_args(argv)


def shuffle_partitions_for(events: int) -> int:
    """About 1.5M events per shuffle partition, 4 to 16 partitions."""
    return max(4, min(16, -(-events // 1_500_000)))


def customers_for(events: int, generator: GeneratorConfig) -> int:
    """CRM customers whose subjects (customers + anonymous_share of extra visitors) make about ``events`` events."""
    return max(1, round(events / (generator.events_per_customer * (1 + generator.anonymous_share))))


def cores_of(master: str) -> int:
    """Task slots of a local master: local = 1, local[N] = N, local[*] = all CPUs."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master)
    if not match:
        raise ValueError(f"--master must be local, local[N] or local[*], got {master!r}")
    slots = match.group(1)
    return 1 if slots is None else (os.cpu_count() or 1) if slots == "*" else int(slots)


def prepare_workdir(path: Path) -> Path:
    """Wipe and recreate the workdir, refusing to delete a non-empty folder this harness did not create."""
    path = path.resolve()
    if path.exists() and any(path.iterdir()) and not (path / WORKDIR_MARKER).exists():
        raise SystemExit(f"refusing to wipe {path}: not empty and not a benchmark workdir (no {WORKDIR_MARKER})")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    (path / WORKDIR_MARKER).touch()
    return path


def bench_config(args: argparse.Namespace, workdir: Path) -> SeglibConfig:
    """conf/local.yaml (+ --set), then the harness's own warehouse, generator size and Spark settings."""
    from seglib.config import SparkSettings, load_config

    cfg = load_config(args.config or [DEFAULT_CONFIG], args.overrides)
    cfg.warehouse.path = str(workdir / "warehouse")
    cfg.warehouse.catalog_schema = None
    cfg.generator.customers = customers_for(args.events, cfg.generator)
    cfg.generator.end_date = None
    partitions = args.shuffle_partitions or shuffle_partitions_for(args.events)
    cfg.generator.partitions = max(cfg.generator.partitions, partitions)
    cfg.spark = SparkSettings(
        home="local",
        master=args.master,
        shuffle_partitions=partitions,
        driver_memory=args.driver_memory,
        conf=cfg.spark.conf,
    )
    return cfg


class Phases:
    """Wall-clock seconds of each named phase, in the order they ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        log.info("phase %s ...", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)
            log.info("phase %s: %.1f s", name, self.seconds[name])


def stopwatch(fn: Callable[..., object], *args: object) -> float:
    """Seconds one call of ``fn(*args)`` took."""
    start = time.perf_counter()
    fn(*args)
    return round(time.perf_counter() - start, 3)


def peak_rss_mb() -> dict[str, float | None]:
    """Peak resident memory of this process (incl. DuckDB) and of its child JVMs (Linux /proc; else None)."""
    python_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm_kb = 0
    try:
        children = []
        for task in Path("/proc/self/task").iterdir():
            children += (task / "children").read_text().split()
        for pid in children:
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            jvm_kb += int(match.group(1)) if match else 0
    except OSError:
        return {"python_peak_rss_mb": python_mb, "jvm_peak_rss_mb": None}
    return {"python_peak_rss_mb": python_mb, "jvm_peak_rss_mb": jvm_kb / 1024 if jvm_kb else None}


# The raw event columns silver events carry as pseudonyms (seglib.ingest.silver.silver_events).
EVENT_ID_COLUMNS = ("event_id", "anonymous_id", "customer_id", "session_id")


def bench_ingest_floor(spark: SparkSession, cfg: SeglibConfig, workdir: Path, cores: int, phases: Phases) -> dict:
    """What ingest cannot beat on this machine: raw events copied to Delta as they are, then copied with their four
    identifiers pseudonymized (seglib's HMAC) and nothing else: no validation, de-duplication, identity or metrics."""
    from pyspark.sql import functions as F

    from seglib.delta_io import read_table
    from seglib.privacy.keys import load_key_ring
    from seglib.privacy.pseudonymize import pseudonym
    from seglib.tables import Warehouse

    raw = read_table(spark, Warehouse.of(cfg).location("raw/raw_events"))
    key_ring = load_key_ring(cfg.privacy)
    hashed = raw.withColumns({c: pseudonym(F.col(c), key_ring) for c in EVENT_ID_COLUMNS})
    events = raw.count()
    m: dict[str, Any] = {}
    for name, df in (("floor_copy", raw), ("floor_pseudonymized_copy", hashed)):
        with phases.timed(f"{name} (reference, not ingest)"):
            df.write.format("delta").mode("overwrite").save(str(workdir / "floor" / name))
        m[f"{name}_events_per_second_per_core"] = events / phases.seconds[f"{name} (reference, not ingest)"] / cores
    shutil.rmtree(workdir / "floor", ignore_errors=True)
    return m


def bench_ingest(spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, cores: int, phases: Phases) -> dict[str, Any]:
    """Generate the raw tables (timed apart), then time a full-refresh ingest of them."""
    from seglib.ingest import run_ingest
    from seglib.stages import stage_generate

    with phases.timed("generate"):
        counts = stage_generate(spark, cfg, ctx).counts
    with phases.timed("ingest"):
        report = run_ingest(spark, cfg, run_id=ctx.run_id, now=ctx.now, full_refresh=True, as_of=ctx.as_of)
    seconds, events = phases.seconds["ingest"], counts["raw_events"]
    return {
        "raw_events": events,
        "raw_rows": {k: v for k, v in counts.items() if k.startswith("raw_")},
        "generate_seconds": phases.seconds["generate"],
        "ingest_seconds": seconds,
        "ingest_events_per_second": events / seconds,
        "ingest_events_per_second_per_core": events / seconds / cores,
        "ingest_rows_per_second": report.rows_read / seconds,
        "ingest_summary": report.summary(),
    }


def bench_features(
    spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, args: argparse.Namespace, workdir: Path, phases: Phases
) -> dict[str, Any]:
    """Time the pipeline's feature stage on the N silver and on a 2N silver made by a re-keyed copy."""
    from benchmarks.scale import sampled_silver, write_doubled_silver
    from seglib.delta_io import read_table
    from seglib.features import build_features
    from seglib.stages import read_silver, stage_features
    from seglib.tables import Warehouse

    m: dict[str, Any] = {}
    if not args.no_warmup:
        # The first feature build also pays JIT/codegen of code paths ingest never ran: keep that out of time(N).
        with phases.timed("warmup_features (untimed in figures)"):
            sample = sampled_silver(read_silver(spark, cfg))
            features = build_features(sample, cfg.features, ctx.as_of, required_consent=cfg.privacy.required_consent)
            features.write.format("noop").mode("overwrite").save()
    with phases.timed("features_n"):
        location = stage_features(spark, cfg, ctx).location
    m["feature_rows_n"] = read_table(spark, location).count()
    m["features_n_seconds"] = phases.seconds["features_n"]
    if args.skip_2n:
        return m
    cfg_2n = cfg.model_copy(deep=True)
    cfg_2n.warehouse.path = str(workdir / "warehouse_2n")
    with phases.timed("prepare_2n_silver (untimed in figures)"):
        m["silver_rows_2n"] = write_doubled_silver(spark, Warehouse.of(cfg), Warehouse.of(cfg_2n))
    with phases.timed("features_2n"):
        location = stage_features(spark, cfg_2n, ctx).location
    m["feature_rows_2n"] = read_table(spark, location).count()
    m["features_2n_seconds"] = phases.seconds["features_2n"]
    m["features_growth_ratio"] = m["features_2n_seconds"] / m["features_n_seconds"]
    return m


def alternating_runs(repeat: int, runners: dict[str, Callable[[], float]], phases: Phases) -> dict[str, list[float]]:
    """Seconds of ``max(1, repeat)`` runs of each engine, alternating so background load hits all alike; each
    engine's total goes to ``phases``."""
    repeat = max(1, repeat)
    log.info("phase %s: %d runs each", " vs ".join(runners), repeat)
    runs: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, run in runners.items():
            runs[name].append(run())
    phases.seconds.update({f"{name} ({repeat} runs)": round(sum(times), 3) for name, times in runs.items()})
    return runs


def bench_rfm(
    spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, workdir: Path, cores: int, phases: Phases
) -> dict[str, Any]:
    """DuckDB reference vs Spark RFM group on the same Parquet orders (best of --repeat), then their diff."""
    from benchmarks.rfm_reference import compare_rfm, run_duckdb_rfm, run_spark_rfm
    from seglib.delta_io import read_table
    from seglib.tables import Warehouse

    orders, duck_out, spark_out = (str(workdir / "parquet" / p) for p in ("orders", "rfm_duckdb.parquet", "rfm_spark"))
    with phases.timed("export_orders_parquet (untimed in figures)"):
        read_table(spark, Warehouse.of(cfg).location("silver/orders")).write.mode("overwrite").parquet(orders)
    runs = alternating_runs(
        args.repeat,
        {
            "duckdb_rfm": lambda: stopwatch(run_duckdb_rfm, orders, args.as_of, duck_out, cores),
            "spark_rfm": lambda: stopwatch(run_spark_rfm, spark, orders, args.as_of, spark_out),
        },
        phases,
    )
    with phases.timed("compare_rfm (untimed in figures)"):
        comparison = compare_rfm(spark.read.parquet(spark_out), spark.read.parquet(duck_out))
    duck, spark_best = min(runs["duckdb_rfm"]), min(runs["spark_rfm"])
    return {
        "duckdb_rfm_seconds": duck,
        "spark_rfm_seconds": spark_best,
        "rfm_runs_seconds": runs,
        "spark_rfm_vs_duckdb": spark_best / duck,
        "rfm_rows_spark": comparison.spark_rows,
        "rfm_rows_duckdb": comparison.duckdb_rows,
        "rfm_only_spark": comparison.only_spark,
        "rfm_only_duckdb": comparison.only_duckdb,
        "rfm_mismatching_rows": comparison.mismatching_rows,
        "rfm_mismatches_by_column": comparison.mismatches_by_column,
    }


def bench_feature_table(
    spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, workdir: Path, cores: int, phases: Phases
) -> dict[str, Any]:
    """Like for like: seglib's feature build of every group that needs no text vs the hand-written DuckDB reference
    (benchmarks/feature_reference.py), both on the same Parquet export of silver with the same threads and writing
    Parquet (best of --repeat, alternating); then the two outputs compared value by value."""
    from benchmarks.feature_reference import (
        ReferenceParams,
        comparable_columns,
        compare_features,
        export_silver_parquet,
        run_duckdb_features,
        split_mismatches,
    )
    from seglib.features import build_features
    from seglib.features.build import SILVER_KEYS

    silver_dir, duck_out, spark_out = (
        workdir / "parquet" / p for p in ("silver", "features_duckdb.parquet", "features_spark")
    )
    with phases.timed("export_silver_parquet (untimed in figures)"):
        export_silver_parquet(spark, cfg.warehouse.path, str(silver_dir))
    no_text = cfg.features.model_copy(deep=True)
    no_text.psychographics.enabled = False
    params = ReferenceParams.from_config(no_text, cfg.privacy.required_consent)

    def spark_features() -> None:
        silver = {name: spark.read.parquet(str(silver_dir / name)) for name in SILVER_KEYS}
        features = build_features(silver, no_text, args.as_of, required_consent=cfg.privacy.required_consent)
        features.write.mode("overwrite").parquet(str(spark_out))

    runs = alternating_runs(
        args.repeat,
        {
            "duckdb_features": lambda: run_duckdb_features(str(silver_dir), args.as_of, str(duck_out), cores, params),
            "spark_features": lambda: stopwatch(spark_features),
        },
        phases,
    )
    with phases.timed("compare_features (untimed in figures)"):
        seglib_table = spark.read.parquet(str(spark_out))
        parts = split_mismatches(compare_features(spark, seglib_table, str(duck_out), comparable_columns(seglib_table)))
    duck, spark_best = min(runs["duckdb_features"]), min(runs["spark_features"])
    return {
        "duckdb_features_seconds": duck,
        "spark_features_seconds": spark_best,
        "features_runs_seconds": runs,
        "spark_features_vs_duckdb": spark_best / duck,
        "features_columns_compared": len(parts["exact"]) + len(parts["approximate"]),
        "features_exact_mismatches": sum(parts["exact"].values()),
        "features_rows_on_one_side": sum(parts["rows"].values()),
        "features_approximate_mismatches": parts["approximate"],
        "features_mismatches_by_column": {k: v for k, v in parts["exact"].items() if v},
    }


def run_benchmarks(
    spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, workdir: Path, phases: Phases
) -> dict[str, Any]:
    """All phases in order; returns the metrics (every phase's wall time is in ``phases``)."""
    from benchmarks.clustering import bench_clustering
    from benchmarks.propensity import bench_propensity
    from seglib.run_types import RunContext

    cores = cores_of(args.master)
    ctx = RunContext.create(args.as_of, run_id="bench")
    m: dict[str, Any] = {}
    if args.only in ("all", "pipeline", "ingest"):
        m |= bench_ingest(spark, cfg, ctx, cores, phases)
        m |= bench_ingest_floor(spark, cfg, workdir, cores, phases)
    if args.only in ("all", "pipeline"):
        m |= bench_features(spark, cfg, ctx, args, workdir, phases)
        m |= bench_rfm(spark, cfg, args, workdir, cores, phases)
        m |= bench_feature_table(spark, cfg, args, workdir, cores, phases)
    if args.only in ("all", "clustering"):
        m |= bench_clustering(spark, cfg, args, phases)
    if args.only in ("all", "propensity"):
        m |= bench_propensity(spark, cfg, args, phases)
    if args.only in ("all", "propensity-real"):
        from benchmarks.propensity_real import bench_propensity_real

        m |= bench_propensity_real(spark, cfg, args, phases)
    if args.only in ("all", "worlds"):
        from benchmarks.worlds.bench import bench_worlds

        m |= bench_worlds(spark, cfg, args, phases)
    return m | peak_rss_mb()


def environment(args: argparse.Namespace, cfg: SeglibConfig, spark_version: str) -> dict[str, Any]:
    """What the figures depend on besides the code: cores, partitions, memory, versions."""
    import duckdb

    return {
        "master": args.master,
        "cores": cores_of(args.master),
        "machine_cpus": os.cpu_count(),
        "shuffle_partitions": cfg.spark.shuffle_partitions,
        "driver_memory": cfg.spark.driver_memory,
        "generator_customers": cfg.generator.customers,
        "spark": spark_version,
        "duckdb": duckdb.__version__,
        "python": sys.version.split()[0],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from seglib.session import build_spark

    started = datetime.now(UTC)
    workdir = prepare_workdir(Path(args.workdir))
    cfg = bench_config(args, workdir)
    spark = build_spark(cfg.spark, app_name="seglib-bench", warehouse_dir=cfg.warehouse.path)
    phases = Phases()
    try:
        metrics = run_benchmarks(spark, cfg, args, workdir, phases)
        result = {
            "timestamp": started.strftime("%Y%m%dT%H%M%SZ"),
            "args": {**vars(args), "as_of": args.as_of.isoformat(), "results_dir": str(args.results_dir or "")},
            "environment": environment(args, cfg, spark.version),
            "metrics": metrics,
            "phases": phases.seconds,
            "total_seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        }
        print(markdown_table(result))
        json_path, md_path = write_results(result, *([args.results_dir] if args.results_dir else []))
        print(f"results: {json_path} and {md_path}")
    finally:
        spark.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if metrics.get("rfm_mismatching_rows"):
        log.error("Spark and DuckDB RFM disagree on %d rows", metrics["rfm_mismatching_rows"])
        return 1
    if metrics.get("features_exact_mismatches") or metrics.get("features_rows_on_one_side"):
        log.error(
            "seglib and the DuckDB feature table disagree: %s; rows on one side only: %d",
            metrics["features_mismatches_by_column"],
            metrics["features_rows_on_one_side"],
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
