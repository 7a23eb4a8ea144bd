"""Benchmark results -> a markdown table (printed and saved as latest.md) and a timestamped JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.clustering import clustering_rows
from benchmarks.propensity import propensity_rows

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SPARK_VS_DUCKDB_TARGET = 4.0
PARTIAL_RUN_TABLES = {
    "clustering": "latest-clustering.md",
    "ingest": "latest-ingest.md",
    "propensity": "latest-propensity.md",
    "propensity-real": "latest-propensity-real.md",
    "worlds": "latest-worlds-run.md",  # latest-worlds.md is the per-world table bench_worlds writes
}


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def markdown_table(result: dict[str, Any]) -> str:
    """The headline figures, one metric a row, with the environment in a line above."""
    env, m = result["environment"], result["metrics"]
    rows = ingest_rows(result, m, env) if "raw_events" in m else []
    rows += pipeline_rows(m) if "feature_rows_n" in m else []
    rows += clustering_rows(m, _fmt)
    rows += propensity_rows(m, _fmt)
    rows += [
        ("JVM peak RSS MB", _fmt(m.get("jvm_peak_rss_mb"), 0)),
        ("Python + DuckDB peak RSS MB", _fmt(m.get("python_peak_rss_mb"), 0)),
    ]
    head = (
        f"seglib benchmark {result['timestamp']}: as_of {result['args']['as_of']}, master {env['master']}, "
        f"shuffle partitions {env['shuffle_partitions']}, Spark {env['spark']}, DuckDB {env['duckdb']}"
    )
    lines = [head, "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines += ["", "| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {_fmt(sec)} |" for name, sec in result["phases"].items()]
    if "rfm_runs_seconds" in m:
        lines += ["", f"RFM runs (seconds): {json.dumps(m.get('rfm_runs_seconds', {}))}"]
    if "features_runs_seconds" in m:
        lines += ["", f"Feature table runs (seconds): {json.dumps(m['features_runs_seconds'])}"]
    return "\n".join(lines) + "\n"


def ingest_rows(result: dict[str, Any], m: dict[str, Any], env: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows of the generate / ingest phases and the ingest floor."""
    per_core = f"/ s / core ({env['cores']} cores)"
    return [
        ("raw events generated (actual / target)", f"{_fmt(m['raw_events'])} / {_fmt(result['args']['events'])}"),
        ("generate seconds", _fmt(m["generate_seconds"])),
        ("ingest seconds (full refresh)", _fmt(m["ingest_seconds"])),
        ("ingest raw events / s", _fmt(m["ingest_events_per_second"], 0)),
        (f"ingest raw events {per_core}", _fmt(m["ingest_events_per_second_per_core"], 0)),
        ("ingest raw rows / s (all five tables)", _fmt(m["ingest_rows_per_second"], 0)),
        (f"floor: raw events copied to Delta {per_core}", _fmt(m.get("floor_copy_events_per_second_per_core"), 0)),
        (
            f"floor: copied with 4 pseudonymized ids {per_core}",
            _fmt(m.get("floor_pseudonymized_copy_events_per_second_per_core"), 0),
        ),
    ]


def pipeline_rows(m: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows of the feature / RFM phases."""
    ratio = m.get("spark_rfm_vs_duckdb")
    verdict = "n/a" if ratio is None else ("ok" if ratio <= SPARK_VS_DUCKDB_TARGET else "above target")
    return [
        ("feature subjects (N)", _fmt(m["feature_rows_n"])),
        ("feature build seconds (N)", _fmt(m["features_n_seconds"])),
        ("feature build seconds (2N)", _fmt(m.get("features_2n_seconds"))),
        ("growth ratio time(2N)/time(N) (linear = 2.0)", _fmt(m.get("features_growth_ratio"))),
        ("DuckDB RFM seconds (best run)", _fmt(m["duckdb_rfm_seconds"], 3)),
        ("Spark RFM group seconds (best run)", _fmt(m["spark_rfm_seconds"], 3)),
        (f"Spark RFM / DuckDB RFM (target <= {SPARK_VS_DUCKDB_TARGET:g}x)", f"{_fmt(ratio)} ({verdict})"),
        ("RFM subjects (Spark / DuckDB)", f"{_fmt(m['rfm_rows_spark'])} / {_fmt(m['rfm_rows_duckdb'])}"),
        ("RFM mismatching rows (must be 0)", _fmt(m["rfm_mismatching_rows"])),
        ("DuckDB feature table seconds, no-text groups (best run)", _fmt(m["duckdb_features_seconds"], 3)),
        ("seglib feature table seconds, same groups and input (best run)", _fmt(m["spark_features_seconds"], 3)),
        (
            f"seglib / DuckDB feature table (target <= {SPARK_VS_DUCKDB_TARGET:g}x)",
            f"{_fmt(m['spark_features_vs_duckdb'])} "
            f"({'ok' if m['spark_features_vs_duckdb'] <= SPARK_VS_DUCKDB_TARGET else 'above target'})",
        ),
        (
            "feature columns compared / exact mismatches (must be 0)",
            f"{m['features_columns_compared']} / {_fmt(m['features_exact_mismatches'])}",
        ),
        ("feature rows on one side only (must be 0)", _fmt(m["features_rows_on_one_side"])),
        ("approximate-quantile columns: mismatching rows", json.dumps(m["features_approximate_mismatches"])),
    ]


def write_results(result: dict[str, Any], results_dir: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """``<timestamp>.json`` (everything) and ``latest.md`` (the table); returns both paths."""
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{result['timestamp']}.json"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    # A partial run (--only clustering / ingest) keeps the full run's latest.md.
    md_path = results_dir / PARTIAL_RUN_TABLES.get(result["args"].get("only", "all"), "latest.md")
    md_path.write_text(markdown_table(result))
    return json_path, md_path
