"""Data seglib's generator did not make, third case (tests/e2e/test_foreign_data.py has the first two): every CDNOW
order at the same price, spend without heterogeneity between customers. ``seg run`` at the data's end on a warehouse
of its own (it needs nothing of the other module's runs, so the two modules run on two workers at once) publishes
CLV with the flagged shrunk mean: the new fit passes the gate and scores the snapshot itself. The propensity family
is off (the other module trains it on the same orders); the other families and their rules are the defaults of
conf/local.yaml.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pyspark.sql import functions as F

from benchmarks.real_data import cdnow_last_day
from seglib.delta_io import read_table
from seglib.tables import Warehouse
from tests.e2e.cdnow import (
    ENDS_NEAR,
    Published,
    cdnow_warehouse,
    flatten_order_amounts,
    published,
    seg_run,
    with_test_key,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory):
    cfg, args = cdnow_warehouse(spark, tmp_path_factory.mktemp("cdnow_flat"), "propensity.enabled=false")
    flatten_order_amounts(spark, cfg)
    return cfg, args


@pytest.fixture(scope="module")
def flat(spark, warehouse) -> Published:
    cfg, args = warehouse
    first = cdnow_last_day(ENDS_NEAR) + timedelta(days=1)
    with with_test_key():
        return published(spark, cfg, first, *seg_run(args, first))


def test_spend_without_heterogeneity_publishes_clv_with_the_flagged_shrunk_mean(spark, flat, warehouse):
    import mlflow
    from mlflow import MlflowClient

    from seglib.tracking import clv_model_name, tracking_uri

    cfg, _ = warehouse
    assert "clv_bracket" in flat.families and "clv_bracket" not in flat.skipped
    mlflow.set_tracking_uri(tracking_uri(cfg))
    versions = MlflowClient().search_model_versions(f"name = '{clv_model_name(cfg)}'")
    newest = max(versions, key=lambda v: int(v.version))
    assert newest.tags["clv.gamma_gamma.method"] == "shrunk_mean"
    scored_by = (
        read_table(spark, Warehouse.of(cfg).location("models/clv_predictions"))
        .where(F.col("snapshot_date") == F.lit(flat.as_of))
        .select("model_version")
        .distinct()
        .collect()
    )
    assert [r[0] for r in scored_by] == [str(newest.version)]
