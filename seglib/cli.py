"""The ``seg`` command line: parse arguments, load config, build the session, call seglib. Nothing else.

Every sub-command takes ``--config FILE`` (repeatable, later wins) and ``--set dotted.key=value`` (repeatable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date

from seglib.config import ConfigError, SeglibConfig, load_config

log = logging.getLogger("seglib")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", action="append", default=[], metavar="FILE", help="YAML config (repeatable)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key",
    )
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        help="snapshot date YYYY-MM-DD (default: generator.end_date when generating, else today)",
    )
    parser.add_argument("--run-id", default=None, help="run id to record (default: a new random id)")
    parser.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seg", description="seglib: audience segmentation on Spark + Delta")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "generate": "write synthetic raw tables (all five + planted truth)",
        "ingest": "raw -> validated, pseudonymous silver tables (+ quarantine, DQ metrics)",
        "features": "silver -> feature table for the snapshot date",
        "cluster": "features -> clustering model (MLflow) -> segment tables",
        "run": "the whole pipeline: [generate] -> ingest -> features -> cluster/segments",
        "forget": "erase subjects (GDPR/CCPA) from every table seglib owns",
        "vacuum": "physically delete files older than privacy.vacuum_retention_hours",
        "config": "print the effective configuration",
    }
    for name, help_text in commands.items():
        p = sub.add_parser(name, help=help_text)
        _add_common(p)
        if name in ("run", "ingest"):
            p.add_argument("--full-refresh", action="store_true", help="rebuild silver from all raw data")
        if name == "run":
            p.add_argument("--generate", action="store_true", help="generate synthetic raw data first")
        if name == "forget":
            p.add_argument("--subject", action="append", default=[], help="raw customer_id or anonymous_id")
            p.add_argument("--requests-table", default=None, help="Delta table with a subject column of ids")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"seg: {exc}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(json.dumps(cfg.model_dump(mode="json"), indent=2))
        return 0
    return dispatch(args, cfg)


def dispatch(args: argparse.Namespace, cfg: SeglibConfig) -> int:
    from seglib import pipeline
    from seglib.session import build_spark
    from seglib.tracking import mlflow_run

    # Generating without --as-of: the snapshot is the generator's fixed end date, so the demo is the same every day.
    generating = args.command == "generate" or getattr(args, "generate", False)
    as_of = args.as_of or (cfg.generator.end_date if generating else None)
    ctx = pipeline.RunContext.create(as_of, args.run_id)
    spark = build_spark(cfg.spark, app_name=f"seglib-{args.command}", warehouse_dir=cfg.warehouse.path)
    log.info("run %s as_of=%s warehouse=%s", ctx.run_id, ctx.as_of, cfg.warehouse.path)
    cmd = args.command
    if cmd == "generate":
        print(json.dumps(pipeline.stage_generate(spark, cfg, ctx), indent=2))
    elif cmd == "ingest":
        with mlflow_run(cfg, ctx, "ingest"):
            pipeline.stage_ingest(spark, cfg, ctx, full_refresh=args.full_refresh)
            _log_ingest(ctx)
        print(_ingest_lines(ctx))
    elif cmd == "features":
        with mlflow_run(cfg, ctx, "features"):
            print(pipeline.stage_features(spark, cfg, ctx))
            _log_features(ctx)
    elif cmd == "cluster":
        with mlflow_run(cfg, ctx, "seg-cluster"):
            pipeline.stage_cluster(spark, cfg, ctx)
        print(render_summary(spark, cfg, ctx))
    elif cmd == "run":
        with mlflow_run(cfg, ctx, "seg-run"):
            if args.generate:
                pipeline.stage_generate(spark, cfg, ctx)
            # Regenerated raw tables replace the previous synthetic world: rebuild silver from them.
            pipeline.stage_ingest(spark, cfg, ctx, full_refresh=args.full_refresh or args.generate)
            _log_ingest(ctx)
            pipeline.stage_features(spark, cfg, ctx)
            _log_features(ctx)
            pipeline.stage_cluster(spark, cfg, ctx)
        print(render_summary(spark, cfg, ctx))
    elif cmd == "forget":
        return _forget(spark, cfg, ctx, args)
    elif cmd == "vacuum":
        from seglib.privacy.erasure import vacuum_owned_tables

        print(json.dumps(vacuum_owned_tables(spark, cfg), indent=2, default=str))
    return 0


def _forget(spark, cfg: SeglibConfig, ctx, args: argparse.Namespace) -> int:
    from seglib.delta_io import read_table
    from seglib.privacy.erasure import forget

    if not args.subject and not args.requests_table:
        print("seg forget: give --subject ID (repeatable) or --requests-table TABLE", file=sys.stderr)
        return 2
    subjects = args.subject
    if args.requests_table:
        requests = read_table(spark, args.requests_table)
        if "subject" not in requests.columns:
            print(f"seg forget: {args.requests_table} has no 'subject' column", file=sys.stderr)
            return 2
        subjects = requests.select("subject")
        if args.subject:
            subjects = subjects.unionByName(spark.createDataFrame([(s,) for s in args.subject], "subject string"))
    report = forget(spark, cfg, subjects, now=ctx.now, run_id=ctx.run_id)
    print(
        json.dumps(report if isinstance(report, dict) else getattr(report, "__dict__", report), indent=2, default=str)
    )
    return 0


def _log_ingest(ctx) -> None:
    import mlflow

    report = ctx.results.get("ingest")
    metrics = getattr(report, "mlflow_metrics", None)
    if callable(metrics):
        mlflow.log_metrics(metrics())


def _log_features(ctx) -> None:
    """RFM score thresholds travel with the run so scores can be reproduced or reused."""
    import mlflow

    if "rfm_thresholds" in ctx.results:
        mlflow.log_dict(ctx.results["rfm_thresholds"], "rfm_thresholds.json")


def _ingest_lines(ctx) -> str:
    report = ctx.results.get("ingest")
    return str(report.summary()) if hasattr(report, "summary") else str(report)


def render_summary(spark, cfg: SeglibConfig, ctx) -> str:
    """Human summary of a run: segments, sizes, and where every table is."""
    from seglib.delta_io import Tables
    from seglib.pipeline import snapshot_summary
    from seglib.tracking import tracking_uri

    tables = Tables(cfg.warehouse)
    lines = [f"seglib run {ctx.run_id}  snapshot {ctx.as_of}"]
    if "ingest" in ctx.results:
        lines.append("ingest: " + _ingest_lines(ctx))
    cluster = ctx.results.get("cluster", {})
    if cluster:
        lines.append(
            f"model: {cluster['model_name']} v{cluster['model_version']} (alias champion), "
            f"k={cluster['k']}, silhouette={cluster['silhouette']:.3f}"
        )
    lines.append(f"{'segment':<40} {'size':>8} {'share':>7}")
    for row in snapshot_summary(spark, cfg, ctx.as_of):
        lines.append(f"{row['segment_name']:<40} {row['size']:>8} {row['share']:>7.1%}")
    lines.append("tables:")
    for layer, name in [
        ("raw", "raw_events"),
        ("silver", "events"),
        ("ops", "quarantine"),
        ("features", "subject_features"),
        ("segments", "segment_membership"),
        ("segments", "segment_summary"),
    ]:
        lines.append(f"  {layer + '/' + name:<28} {tables.location(layer, name)}")
    lines.append(f"mlflow: {tracking_uri(cfg)}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
