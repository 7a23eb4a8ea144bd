"""Data seglib's generator did not make: the default ``seg run`` publishes what it can and says what it skipped.

Real public transactions (CDNOW, shipped by the ``lifetimes`` package, via benchmarks/real_data.py): orders only,
one login per customer, no texts, no plan history. Three runs, each ending with published segments (the first two on
one warehouse, the third on its own, in test_spend_without_heterogeneity.py: two modules, two workers):

1. at the data's end: upgrade is not applicable (no plan history), everything else is trained and published;
2. five weeks after the data's end: purchase and churn have no label in the holdout and are skipped in the check
   before the features, yet scored by the champions of run 1; the run exits 3;
3. every order at the same price (spend without heterogeneity), at the data's end: CLV is published with the flagged
   shrunk mean.

Only the grid, the k range and the leakage check are narrowed, for time; the families and their rules are the
defaults of conf/local.yaml.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from benchmarks.real_data import cdnow_last_day
from seglib.cli import EXIT_PARTIAL
from seglib.delta_io import read_table
from seglib.tables import Warehouse
from tests.e2e.cdnow import ENDS_NEAR, Published, cdnow_warehouse, published, seg_run, with_test_key

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory):
    return cdnow_warehouse(spark, tmp_path_factory.mktemp("cdnow"))


@pytest.fixture(scope="module")
def runs(spark, warehouse) -> list[Published]:
    cfg, args = warehouse
    with with_test_key():
        first = cdnow_last_day(ENDS_NEAR) + timedelta(days=1)
        late = first + timedelta(days=35)
        return [published(spark, cfg, day, *seg_run(args, day)) for day in (first, late)]


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
