"""The ``seg`` command line: parse arguments, load config, build the session, call seglib. Nothing else.

Every sub-command takes ``--config FILE`` (repeatable, later wins) and ``--set dotted.key=value`` (repeatable).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import date, datetime

from seglib.config import DEFAULT_CONFIG, ConfigError, SeglibConfig, load_config
from seglib.errors import MissingInputError, SeglibError
from seglib.run_types import RunContext

log = logging.getLogger("seglib")

# Failures caused by input, config or environment: one line on stderr, exit 2 (see seglib.errors).
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, SeglibError)
# Exit codes: 0 everything applicable was published; 2 a user error (input, config, environment; also a family
# marked required that cannot be produced) and nothing more was done; 3 published, but a model family was skipped
# (it could not be trained or scored on this data: the run summary, MLflow and segment_publications say why);
# 1 a bug (a traceback).
EXIT_PARTIAL = 3
# Delta refuses a VACUUM retention under the table's deletedFileRetentionDuration (7 days by default) unless its
# retention check is off; seg refuses such a config before touching any table.
DELTA_SAFE_RETENTION_HOURS = 168.0
DELTA_RETENTION_CHECK_CONF = "spark.databricks.delta.retentionDurationCheck.enabled"


class UsageError(SeglibError):
    """A command line argparse rejects (unknown option, a value of the wrong form): one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as one-line :class:`UsageError` (``main`` prints them, exit 2) instead of a
    usage block and ``SystemExit``."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _snapshot_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _delta_as_of(text: str) -> str:
    """``seg show --as-of``: a Delta version (digits) or a timestamp Delta can read ('2026-12-01 10:00:00');
    returned as given."""
    if text.isdigit():
        return text
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a Delta version (e.g. 3) or a timestamp YYYY-MM-DD[ HH:MM:SS], got {text!r}"
        ) from None
    return text


def _add_common(parser: argparse.ArgumentParser, snapshot: bool = True) -> None:
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML config (repeatable, later wins; seglib:<name>.yaml = a packaged default file); default: the "
        "packaged default (seglib:local.yaml, what conf/local.yaml links to)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key",
    )
    if snapshot:
        parser.add_argument(
            "--as-of",
            type=_snapshot_date,
            default=None,
            help="snapshot date YYYY-MM-DD (default: generator.end_date when generating, else today)",
        )
    parser.add_argument("--run-id", default=None, help="run id to record (default: a new random id)")
    parser.add_argument("-v", "--verbose", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seg", description="seglib: audience segmentation on Spark + Delta")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "generate": "write synthetic raw tables (all five + planted truth)",
        "ingest": "raw -> validated, pseudonymous silver tables (+ quarantine, DQ metrics)",
        "features": "silver -> feature table for the snapshot date",
        "cluster": "features -> clustering model (MLflow) -> segment tables",
        "propensity": "train: labelled past cut-offs -> GBT vs baseline, time holdout, registry; score: champion -> "
        "models/propensity_scores",
        "clv": "train: BG/NBD + Gamma-Gamma, holdout in time, registry; score: champion -> models/clv_predictions",
        "segments": "rule segments + clusters + propensity tiers + CLV brackets -> the published segment tables",
        "run": "the whole pipeline: [generate] -> ingest -> features -> propensity -> clv -> cluster -> segments",
        "show": "print the published segments, or one segment's size and members (pseudonyms)",
        "forget": "erase subjects (GDPR/CCPA) from every table seglib owns",
        "vacuum": "physically delete files older than privacy.vacuum_retention_hours",
        "rekey": "key rotation: rewrite every owned table's pseudonyms from an old key version to the active key",
        "config": "print the effective configuration",
    }
    for name, help_text in commands.items():
        p = sub.add_parser(name, help=help_text)
        _add_common(p, snapshot=name not in ("show", "rekey"))
        if name == "show":
            p.add_argument(
                "--as-of",
                type=_delta_as_of,
                default=None,
                metavar="VERSION|TIMESTAMP",
                help="read segment_membership at a Delta version (e.g. 3) or timestamp (e.g. '2026-12-01 10:00:00')",
            )
            p.add_argument("--segment", default=None, help="segment name or id (any family); default: list them all")
            p.add_argument("--family", default=None, help="only this segment family (e.g. playbook, cluster)")
            p.add_argument("--limit", type=int, default=20, help="members printed (default 20)")
        if name in ("run", "ingest"):
            p.add_argument("--full-refresh", action="store_true", help="rebuild silver from all raw data")
        if name == "run":
            p.add_argument("--generate", action="store_true", help="generate synthetic raw data first")
            p.add_argument(
                "--then",
                dest="then",
                type=_snapshot_date,
                action="append",
                default=[],
                metavar="YYYY-MM-DD",
                help="publish later snapshots too, in order, in this process (repeatable): raw data is generated and "
                "ingested as of the last one; they score with the champions the first snapshot trained",
            )
            p.add_argument(
                "--score-only",
                action="store_true",
                help="score the snapshot with the registered propensity and CLV champions instead of retraining them "
                "(the clustering is still refitted and gated)",
            )
        if name == "clv":
            p.add_argument(
                "action", choices=["train", "score"], help="train (then score with the champion) | score (the snapshot)"
            )
        if name == "propensity":
            p.add_argument(
                "action",
                choices=["train", "score"],
                help="train (then score with the champion) | score (the snapshot, with each target's champion)",
            )
        if name == "forget":
            p.add_argument("--subject", action="append", default=[], help="raw customer_id or anonymous_id")
            p.add_argument("--requests-table", default=None, help="Delta table with a subject column of ids")
        if name == "rekey":
            p.add_argument(
                "--from-version",
                required=True,
                metavar="VERSION",
                help="the key version the tables were written under (e.g. v1; in the ring after the new active key)",
            )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # No --config: the default configuration shipped in the package (ingest rules, currencies, rule families).
        cfg = load_config(args.config or [DEFAULT_CONFIG], args.overrides)
        _check_config(cfg, args.command)
        if args.command != "config":
            _check_environment(cfg)
        if args.command == "config":
            print(json.dumps(cfg.model_dump(mode="json"), indent=2))
            return 0
        return dispatch(args, cfg)
    except USER_ERRORS as exc:
        # A user error is one line; the traceback is for bug reports (--verbose).
        if args.verbose:
            traceback.print_exc(file=sys.stderr)
        print(f"seg {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2


def _check_config(cfg: SeglibConfig, command: str) -> None:
    """Config a command cannot run with (ConfigError), and config that runs but is suspicious (a warning)."""
    if not cfg.ingest.rules:
        # Not refused: a deliberate `--set ingest.rules={}` is allowed, but never silent.
        log.warning(
            "the configuration has no ingest validation rules (ingest.rules is empty): ingest will quarantine no row; "
            "load the packaged default (no --config) or extend it (extends: seglib:base.yaml)"
        )
    p = cfg.privacy
    check_off = str(cfg.spark.conf.get(DELTA_RETENTION_CHECK_CONF, "true")).lower() == "false"
    short = p.vacuum_retention_hours < DELTA_SAFE_RETENTION_HOURS
    if command == "vacuum" and short and not (p.vacuum_allow_short_retention or check_off):
        raise ConfigError(
            f"privacy.vacuum_retention_hours={p.vacuum_retention_hours:g} is below Delta's "
            f"{DELTA_SAFE_RETENTION_HOURS:g}-hour retention safety check: raise it, or set "
            "privacy.vacuum_allow_short_retention=true to vacuum anyway (readers of older versions may fail)"
        )


def _check_environment(cfg: SeglibConfig) -> None:
    """What a Spark command needs before it starts a session: the local home's Delta jars."""
    from seglib.session import detect_home, local_jars

    home = detect_home() if cfg.spark.home == "auto" else cfg.spark.home
    if home == "local":
        local_jars()  # MissingInputError naming the make target when they were never resolved


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, SeglibError | ConfigError) else text


def dispatch(args: argparse.Namespace, cfg: SeglibConfig) -> int:
    from seglib import pipeline
    from seglib.session import build_spark

    if args.command == "show":
        from seglib.segments.show import show_segments

        spark = build_spark(cfg.spark, app_name="seglib-show", warehouse_dir=cfg.warehouse.path)
        print(show_segments(spark, cfg, args.as_of, args.segment, args.family, args.limit))
        return 0
    if args.command == "rekey":
        from seglib.privacy.keys import load_key_ring
        from seglib.privacy.rekey import rekey_owned_tables, render_rekey, rotation_keys
        from seglib.run_lock import warehouse_lock

        ring = load_key_ring(cfg.privacy)
        rotation_keys(ring, args.from_version)  # a version not in the ring, or the active one: refused before Spark
        ctx = RunContext.create(None, args.run_id)
        spark = build_spark(cfg.spark, app_name="seglib-rekey", warehouse_dir=cfg.warehouse.path)
        with warehouse_lock(spark, cfg, ctx, "rekey"):
            print(render_rekey(rekey_owned_tables(spark, cfg, args.from_version, key_ring=ring)))
        return 0

    # Generating without --as-of: the snapshot is the generator's fixed end date, so the demo is the same every day.
    generating = args.command == "generate" or getattr(args, "generate", False)
    as_of = args.as_of or (cfg.generator.end_date if generating else None)
    ctx = RunContext.create(as_of, args.run_id)
    spark = build_spark(cfg.spark, app_name=f"seglib-{args.command}", warehouse_dir=cfg.warehouse.path)
    log.info("run %s as_of=%s warehouse=%s", ctx.run_id, ctx.as_of, cfg.warehouse.path)
    cmd = args.command
    if cmd == "forget":
        return _forget(spark, cfg, ctx, args)
    if cmd == "vacuum":
        from seglib.privacy.erasure import existing_owned_tables, vacuum_owned_tables
        from seglib.run_lock import warehouse_lock

        existing_owned_tables(spark, cfg, "vacuum")  # before the lock, which writes a table of its own
        with warehouse_lock(spark, cfg, ctx, "vacuum"):
            print(json.dumps(vacuum_owned_tables(spark, cfg), indent=2, default=str))
        return 0
    stages = {
        "generate": ("generate",),
        "ingest": ("ingest",),
        "features": ("features",),
        "cluster": ("cluster",),
        "segments": ("segments",),
        "propensity": ("propensity",) if getattr(args, "action", None) == "train" else ("propensity_score",),
        "clv": ("clv",) if getattr(args, "action", None) == "train" else ("clv_score",),
        "run": (
            *(("generate",) if getattr(args, "generate", False) else ()),
            "ingest",
            "features",
            *(("propensity_score", "clv_score") if getattr(args, "score_only", False) else ("propensity", "clv")),
            "cluster",
            "segments",
        ),
    }[cmd]
    later = sorted(getattr(args, "then", []) or [])
    if later and later[0] <= ctx.as_of:
        print(f"seg run: --then {later[0]} is not after the snapshot {ctx.as_of}", file=sys.stderr)
        return 2
    full_refresh = getattr(args, "full_refresh", False)
    results = pipeline.run_snapshots(spark, cfg, ctx, stages, later, full_refresh=full_refresh, run_id=args.run_id)
    return max(_report(cfg, cmd, result) for result in results)


def _report(cfg: SeglibConfig, cmd: str, result) -> int:
    """Print the run's summary and one line per family it could not produce; EXIT_PARTIAL when a family that applies
    to the data was skipped (a scheduler must see it), else 0 (a family the data cannot have is reported only)."""
    print(render_summary(cfg, result))
    for c in result.skipped:
        print(f"seg {cmd}: {c.family} {c.status.replace('_', ' ')}: {c.reason}", file=sys.stderr)
    return EXIT_PARTIAL if result.partial else 0


def _forget(spark, cfg: SeglibConfig, ctx, args: argparse.Namespace) -> int:
    from seglib.delta_io import read_table, table_exists
    from seglib.privacy.erasure import existing_owned_tables, forget
    from seglib.privacy.keys import load_key_ring
    from seglib.run_lock import warehouse_lock

    if not args.subject and not args.requests_table:
        print("seg forget: give --subject ID (repeatable) or --requests-table TABLE", file=sys.stderr)
        return 2
    load_key_ring(cfg.privacy)  # no key, no pseudonym to erase: said first, before any table is looked at
    subjects = args.subject
    if args.requests_table:
        if not table_exists(spark, args.requests_table):
            raise MissingInputError(f"--requests-table {args.requests_table}: no Delta table there")
        requests = read_table(spark, args.requests_table)
        if "subject" not in requests.columns:
            print(f"seg forget: {args.requests_table} has no 'subject' column", file=sys.stderr)
            return 2
        subjects = requests.select("subject")
        if args.subject:
            subjects = subjects.unionByName(spark.createDataFrame([(s,) for s in args.subject], "subject string"))
    # Before the lock, which itself writes a table under warehouse.path: a wrong path must not look like a warehouse.
    existing_owned_tables(spark, cfg, "forget", erasable_only=True)
    with warehouse_lock(spark, cfg, ctx, "forget"):
        report = forget(spark, cfg, subjects, now=ctx.now, run_id=ctx.run_id)
    print(json.dumps(dataclasses.asdict(report), indent=2, default=str))
    return 0


def render_summary(cfg: SeglibConfig, result) -> str:
    """Human summary of a run from its result (no Spark query): what each stage did, the segments, and where every
    table is."""
    from seglib.tables import Warehouse
    from seglib.tracking import tracking_uri

    ctx = result.context
    wh = Warehouse.of(cfg)
    lines = [f"seglib run {ctx.run_id}  snapshot {ctx.as_of}"]
    if result.generate is not None:
        lines.append("generate: " + ", ".join(f"{k}={v}" for k, v in result.generate.counts.items()))
    if result.ingest is not None:
        lines.append("ingest: " + result.ingest.summary())
    if result.features is not None:
        lines.append(f"features: {result.features.location} (text engine: {result.features.text_engine})")
    shown = ["raw/raw_events", "silver/events", "ops/quarantine", "features/subject_features"]
    for p in result.propensity:
        if p.holdout:
            lines.append(
                f"propensity {p.target}: holdout ({p.holdout['gbt_rows']:.0f} subjects, base rate "
                f"{p.holdout['gbt_base_rate']:.1%}) ROC-AUC {p.holdout['gbt_roc_auc']:.3f} (GBT) vs "
                f"{p.holdout['baseline_roc_auc']:.3f} (logistic baseline), PR-AUC {p.holdout['gbt_pr_auc']:.3f}, "
                f"top-decile lift {p.holdout['gbt_lift_top_decile']:.2f}; {p.model_kind} v{p.trained_version} -> "
                f"{p.alias}"
            )
        if p.scored_version is None:
            continue  # said with the skipped families
        lines.append(
            f"propensity {p.target}: scored by {p.model_name} v{p.scored_version}; tiers "
            + ", ".join(f"{t}={n}" for t, n in sorted(p.tier_sizes.items()))
        )
    if result.propensity:
        shown.append("models/propensity_scores")
    if result.clv is not None:
        v = result.clv
        if v.holdout:
            lines.append(
                f"clv: holdout {v.holdout['subjects']:.0f} subjects, predicted {v.holdout['predicted_total']:.0f} vs "
                f"actual {v.holdout['actual_total']:.0f} purchases ({v.holdout['relative_error']:+.1%}), per-subject "
                f"r = {v.holdout['correlation']:.3f}, MAE {v.holdout['mae']:.3f}; v{v.trained_version} -> {v.alias}"
            )
        if v.scored_version:
            lines.append(
                f"clv: scored by {v.model_name} v{v.scored_version} (spend model: {v.gamma_gamma_method}); brackets "
                + ", ".join(f"{b}={n}" for b, n in sorted(v.bracket_sizes.items()))
            )
        shown.append("models/clv_predictions")
    if result.cluster is not None:
        c = result.cluster
        lines.append(
            f"model: new fit k={c.k}, silhouette={c.silhouette:.3f} -> {c.alias} ({c.gate_reason}); "
            f"segments published by {c.model_name} v{c.model_version}"
        )
        for metric, value in c.truth_scores.items():
            lines.append(f"against the planted truth: {metric}={value:.3f}")
        lines.append(f"{'segment':<40} {'size':>8} {'share':>7}")
        for row in sorted(c.segments["segments"], key=lambda r: (-r["size"], r["segment_id"])):
            lines.append(f"{row['segment_name']:<40} {row['size']:>8} {row['share']:>7.1%}")
        sparse = c.segments.get("sparse")
        if sparse:
            m = sparse["metrics"]
            lines.append(
                f"sparse subjects: {sparse['subjects']}; classifier "
                + (f"{sparse['model']} holdout accuracy {m.get('accuracy', float('nan')):.3f}" if m else "off")
                + f" ({sparse['reason']})"
            )
        shown += ["models/cluster_assignments", "models/cluster_profiles"]
    if result.segments is not None:
        s = result.segments
        lines.append(
            f"segments: snapshot {s.snapshot_date} (previous {s.previous_snapshot_date}): {s.subjects} subjects, "
            f"{s.transitions} transitions; table versions {s.table_versions}"
        )
        lines.append(f"{'family':<20} {'segment':<34} {'size':>7} {'share':>7}")
        for row in s.sizes:
            flag = "" if row["meets_min_size"] else "  (below the minimum size: not exportable)"
            name = row["segment_name"][:34]
            lines.append(f"{row['segment_family']:<20} {name:<34} {row['size']:>7} {row['share']:>7.1%}{flag}")
        shown += [f"segments/{name}" for name in s.tables]
    for c in result.skipped:
        lines.append(f"{c.family}: {c.status.replace('_', ' ').upper()}: {c.reason}")
    lines.append("tables:")
    lines += [f"  {name:<28} {wh.location(name)}" for name in shown]
    lines.append(f"mlflow: {tracking_uri(cfg)}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
