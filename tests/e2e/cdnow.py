"""The CDNOW warehouse of the foreign-data tests (tests/e2e/test_foreign_data.py, test_spend_without_heterogeneity.py):
real public transactions written as seglib's raw inputs, and ``seg run`` in-process with the test key. Each module
builds its own warehouse (a module fixture), so the two run on two workers at once."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F

from benchmarks.real_data import write_cdnow_raw_tables
from seglib.cli import main
from seglib.config import load_config
from seglib.delta_io import read_table
from seglib.tables import RAW_INPUTS, Warehouse
from tests.e2e.conftest import KEY

ENDS_NEAR = date(2026, 11, 1)
CUSTOMERS = 1200
CONFIG = "conf/local.yaml"


def cdnow_warehouse(spark, root: Path, *more: str):
    """The narrowed default config (plus the overrides ``more``) on a warehouse under ``root``, its raw inputs
    written: (config, --set args)."""
    overrides = [
        f"warehouse.path={root / 'wh'}",
        "spark.home=local",
        "spark.shuffle_partitions=1",
        "propensity.grid.max_depth=[3]",
        "propensity.num_folds=2",
        "propensity.check_leakage=false",
        "clustering.k_max=6",
        "clustering.seeds_per_k=2",
        *more,
    ]
    cfg = load_config([CONFIG], overrides)
    wh = Warehouse.of(cfg)
    write_cdnow_raw_tables(spark, {n: wh.location(f"raw/{n}") for n in RAW_INPUTS}, CUSTOMERS, ENDS_NEAR)
    return cfg, [a for o in overrides for a in ("--set", o)]


def seg_run(args: list[str], as_of: date, *extra: str) -> tuple[int, str]:
    """``seg run`` in-process: (exit code, stderr lines that are seglib's own)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["run", "--config", CONFIG, "--as-of", as_of.isoformat(), *args, *extra])
    return code, "\n".join(line for line in err.getvalue().splitlines() if line.startswith("seg run: "))


@dataclass
class Published:
    as_of: date
    code: int
    said: str
    families: dict[str, int]  # segment family -> members in the current membership
    skipped: dict[str, tuple[str, str]]  # the publication's record: family -> (status, reason)


def published(spark, cfg, as_of: date, code: int, said: str) -> Published:
    wh = Warehouse.of(cfg)
    membership = read_table(spark, wh.location("segments/segment_membership"))
    assert {r[0] for r in membership.select("snapshot_date").distinct().collect()} == {as_of}
    families = {r[0]: r[1] for r in membership.groupBy("segment_family").count().collect()}
    [row] = (
        read_table(spark, wh.location("segments/segment_publications"))
        .where(F.col("snapshot_date") == F.lit(as_of))
        .collect()
    )
    skipped = {s["family"]: (s["status"], s["reason"]) for s in row["skipped_families"]}
    return Published(as_of, code, said, families, skipped)


@contextlib.contextmanager
def with_test_key() -> Iterator[None]:
    """SEGLIB_PSEUDONYM_KEY set to the tests' key, the previous value restored after."""
    previous = os.environ.get("SEGLIB_PSEUDONYM_KEY")
    os.environ["SEGLIB_PSEUDONYM_KEY"] = KEY
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SEGLIB_PSEUDONYM_KEY", None)
        else:
            os.environ["SEGLIB_PSEUDONYM_KEY"] = previous


def flatten_order_amounts(spark, cfg) -> None:
    """Every raw order at one price: spend without heterogeneity between customers."""
    orders = Warehouse.of(cfg).location("raw/raw_orders")
    flat = read_table(spark, orders).withColumn("amount", F.lit(15).cast("decimal(18,2)")).localCheckpoint()
    flat.write.format("delta").mode("overwrite").save(orders)
