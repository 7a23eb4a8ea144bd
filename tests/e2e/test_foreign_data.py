"""Data seglib's generator did not make: the default ``seg run`` publishes what it can and says what it skipped.

Real public transactions (CDNOW, shipped by the ``lifetimes`` package, via benchmarks/real_data.py): orders only,
one login per customer, no texts, no plan history. Three runs on one warehouse, each ending with published segments:

1. at the data's end: upgrade is not applicable (no plan history), everything else is trained and published;
2. five weeks after the data's end: purchase and churn have no label in the holdout and are skipped in the check
   before the features, yet scored by the champions of run 1; the run exits 3;
3. every order at the same price (spend without heterogeneity): CLV is published with the flagged shrunk mean.

Only the grid, the k range and the leakage check are narrowed, for time; the families and their rules are the
defaults of conf/local.yaml.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from benchmarks.real_data import cdnow_last_day, write_cdnow_raw_tables
from seglib.cli import EXIT_PARTIAL, main
from seglib.config import load_config
from seglib.delta_io import read_table
from seglib.tables import RAW_INPUTS, Warehouse
from tests.e2e.conftest import KEY

pytestmark = pytest.mark.e2e

ENDS_NEAR = date(2026, 11, 1)
CUSTOMERS = 1200
CONFIG = "conf/local.yaml"


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("cdnow")
    overrides = [
        f"warehouse.path={root / 'wh'}",
        "spark.home=local",
        "spark.shuffle_partitions=1",
        "propensity.grid.max_depth=[3]",
        "propensity.num_folds=2",
        "propensity.check_leakage=false",
        "clustering.k_max=6",
        "clustering.seeds_per_k=2",
    ]
    cfg = load_config([CONFIG], overrides)
    wh = Warehouse.of(cfg)
    write_cdnow_raw_tables(spark, {n: wh.location(f"raw/{n}") for n in RAW_INPUTS}, CUSTOMERS, ENDS_NEAR)
    return cfg, [a for o in overrides for a in ("--set", o)]


def _run(args: list[str], as_of: date, *extra: str) -> tuple[int, str]:
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


def _published(spark, cfg, as_of: date, code: int, said: str) -> Published:
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


@pytest.fixture(scope="module")
def runs(spark, warehouse) -> list[Published]:
    cfg, args = warehouse
    previous = os.environ.get("SEGLIB_PSEUDONYM_KEY")
    os.environ["SEGLIB_PSEUDONYM_KEY"] = KEY
    try:
        out = []
        first = cdnow_last_day(ENDS_NEAR) + timedelta(days=1)
        out.append(_published(spark, cfg, first, *_run(args, first)))
        late = first + timedelta(days=35)
        out.append(_published(spark, cfg, late, *_run(args, late)))
        # Every order at one price: spend without heterogeneity between customers.
        orders = Warehouse.of(cfg).location("raw/raw_orders")
        flat = read_table(spark, orders).withColumn("amount", F.lit(15).cast("decimal(18,2)")).localCheckpoint()
        flat.write.format("delta").mode("overwrite").save(orders)
        later = late + timedelta(days=7)
        out.append(_published(spark, cfg, later, *_run(args, later, "--full-refresh")))
    finally:
        if previous is None:
            os.environ.pop("SEGLIB_PSEUDONYM_KEY", None)
        else:
            os.environ["SEGLIB_PSEUDONYM_KEY"] = previous
    return out


def test_orders_only_data_publishes_every_family_it_can_and_upgrade_is_not_applicable(runs):
    first = runs[0]
    assert first.skipped == {
        "propensity_upgrade": (
            "not_applicable",
            "upgrade: no plan history: no CRM row has a plan of features.demographics.plan_order "
            "['free', 'basic', 'premium', 'enterprise']",
        )
    }
    assert first.code == 0, first.said
    assert first.said.startswith("seg run: propensity_upgrade not applicable: upgrade: no plan history")
    assert {"cluster", "clv_bracket", "propensity_purchase", "propensity_churn"} <= set(first.families)
    assert "propensity_upgrade" not in first.families
    assert len(first.families) > 4  # and the rule families


def test_the_first_run_publishes_a_clv_prediction_per_bracket_member(spark, runs, warehouse):
    """CLV through `seg run`: the champion's predictions of the first snapshot, one per clv_bracket member."""
    cfg, _ = warehouse
    first = runs[0]
    clv = read_table(spark, Warehouse.of(cfg).location("models/clv_predictions")).where(
        F.col("snapshot_date") == F.lit(first.as_of)
    )
    assert clv.count() == first.families["clv_bracket"] > 100
    assert clv.where(F.col("predicted_clv").isNull() | F.col("model_version").isNull()).count() == 0


def test_a_run_after_the_data_ends_skips_the_targets_without_labels_and_scores_them_with_the_champions(runs):
    late = runs[1]
    assert late.code == EXIT_PARTIAL, late.said
    status, reason = late.skipped["propensity_purchase"]
    assert status == "skipped" and "holdout 0 positives" in reason and "scored by the champion v1" in reason
    assert late.skipped["propensity_churn"][0] == "skipped"
    assert "seg run: propensity_purchase skipped: purchase: too few labels" in late.said
    # Published all the same: the champions of the first run scored the targets, the clustering was refitted.
    assert {"cluster", "clv_bracket", "propensity_purchase", "propensity_churn"} <= set(late.families)


def test_spend_without_heterogeneity_publishes_clv_with_the_flagged_shrunk_mean(runs, warehouse):
    import mlflow
    from mlflow import MlflowClient

    from seglib.tracking import clv_model_name, tracking_uri

    flat = runs[2]
    cfg, _ = warehouse
    assert "clv_bracket" in flat.families and "clv_bracket" not in flat.skipped
    mlflow.set_tracking_uri(tracking_uri(cfg))
    versions = MlflowClient().search_model_versions(f"name = '{clv_model_name(cfg)}'")
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags["clv.gamma_gamma.method"] == "shrunk_mean"
