"""Measure pseudonym encodings: Delta storage and self-join time for 64-hex, 32-hex, 16-byte binary and 64-bit keys.

Run: ``python -m seglib.privacy.measure --rows 1000000 --out /tmp/seglib-measure`` (docs/privacy.md has figures).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import TableSpec, read_table, write_table
from seglib.privacy.keys import PseudonymKey
from seglib.privacy.pseudonymize import hmac_sha256_hex, normalised_id

# A fixed throw-away key: the figures do not depend on the key.
_BENCH_KEY = PseudonymKey("bench", bytes(range(32)))


def encodings(raw_id: Column) -> dict[str, Column]:
    """The candidate join keys derived from one HMAC."""
    mac = hmac_sha256_hex(F.encode(normalised_id(raw_id), "UTF-8"), _BENCH_KEY)
    return {
        "hex64": mac,
        "hex32": F.substring(mac, 1, 32),
        "binary16": F.unhex(F.substring(mac, 1, 32)),
        "long64": F.conv(F.substring(mac, 1, 16), 16, -10).cast("long"),
    }


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def _timed_join(df: DataFrame) -> float:
    start = time.perf_counter()
    other = df.select(F.col("k").alias("k2"))
    df.join(other, df["k"] == other["k2"]).count()
    return time.perf_counter() - start


def measure(spark: SparkSession, rows: int, out: Path) -> dict[str, dict[str, float]]:
    """Write each encoding of ``rows`` pseudonyms as a one-column Delta table; size and self-join time."""
    ids = spark.range(rows).select(F.concat(F.lit("C"), F.col("id").cast("string")).alias("raw_id"))
    results: dict[str, dict[str, float]] = {}
    for name, col in encodings(F.col("raw_id")).items():
        location = str(out / name)
        write_table(ids.select(col.alias("k")).repartition(2), TableSpec(location=location))
        table = read_table(spark, location)
        _timed_join(table)  # warm-up: JIT, file listing
        seconds = min(_timed_join(table) for _ in range(2))
        results[name] = {"bytes": _dir_bytes(out / name), "join_seconds": round(seconds, 2)}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path(".seglib/measure"))
    args = parser.parse_args(argv)
    from seglib.config import SparkSettings
    from seglib.session import build_spark

    spark = build_spark(SparkSettings(home="local", shuffle_partitions=2), app_name="seglib-measure")
    print(json.dumps(measure(spark, args.rows, args.out), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
