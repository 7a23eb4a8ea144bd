"""Feasibility of the model families, read from silver before any feature build: labels per cut-off, inputs."""

from __future__ import annotations

from datetime import date

import pytest

from seglib.config import load_config
from seglib.modeling.feasibility import check_clv, check_propensity_targets
from seglib.run_types import FamilyCheck
from tests.features.silver_data import consents_df, customers_history_df, events_df, orders_df

AS_OF = date(2024, 3, 1)  # purchase, 30-day windows, one training cut-off: training 2024-01-01, holdout 2024-01-31
SUBJECTS = [f"s{i}" for i in range(6)]


def _cfg(**targets):
    overrides = [
        "propensity.training_snapshots=1",
        "propensity.snapshot_step_days=30",
        "propensity.min_positives=2",
        f"propensity.targets={targets}",
    ]
    return load_config((), overrides)


@pytest.fixture(scope="module")
def silver(spark):
    def orders(*rows):
        return orders_df(spark, [(s, ts, "completed", "10.00", "10.00") for s, ts in rows])

    # Everyone bought before the training cut-off; s0, s1 buy in the training window, s2, s3 in the holdout window.
    first = [(s, "2023-12-01 10:00:00") for s in SUBJECTS]
    later = [("s0", "2024-01-05 10:00:00"), ("s1", "2024-01-06 10:00:00")]
    later += [("s2", "2024-02-05 10:00:00"), ("s3", "2024-02-06 10:00:00")]
    return {
        "events": events_df(spark, [(s, "2023-12-01 09:00:00", "login") for s in SUBJECTS]),
        "orders": orders(*first, *later),
        "orders_no_holdout_buyers": orders(*first, *later[:2]),
        "customers_history": customers_history_df(spark, [(s, "2023-11-01", "DE", None, False) for s in SUBJECTS]),
        "consents": consents_df(spark, [(s, True) for s in SUBJECTS]),
    }


def test_a_target_with_enough_labels_in_training_and_holdout_is_ok(silver):
    cfg = _cfg(purchase={"kind": "purchase", "window_days": 30})
    assert check_propensity_targets(silver, cfg, AS_OF) == [FamilyCheck("propensity_purchase", "ok")]


def test_a_holdout_without_positives_is_skipped_and_says_where_the_data_ends(silver):
    cfg = _cfg(purchase={"kind": "purchase", "window_days": 30})
    [check] = check_propensity_targets({**silver, "orders": silver["orders_no_holdout_buyers"]}, cfg, AS_OF)
    assert check.family == "propensity_purchase" and check.status == "skipped"
    assert "holdout 0 positives / 6 negatives" in check.reason
    assert "the data spans 2023-12-01 .. 2024-01-06; the data ends before the holdout" in check.reason


def test_upgrade_without_plan_history_is_not_applicable_and_disabled_targets_are_not_checked(silver):
    cfg = _cfg(
        upgrade={"kind": "upgrade", "window_days": 30},
        churn={"kind": "churn", "window_days": 30, "enabled": False},
    )
    [check] = check_propensity_targets(silver, cfg, AS_OF)
    assert check.family == "propensity_upgrade" and check.status == "not_applicable"
    assert check.reason.startswith("upgrade: no plan history: no CRM row has a plan")
    # Plans known, but nobody's ever changes: nothing to learn an upgrade from either.
    static = customers_history_df(
        silver["events"].sparkSession, [(s, "2023-11-01", "DE", "basic", False) for s in SUBJECTS]
    )
    [check] = check_propensity_targets({**silver, "customers_history": static}, cfg, AS_OF)
    assert check.status == "not_applicable" and "no customer's CRM history changes plan" in check.reason


def test_clv_without_orders_before_the_snapshot_is_not_applicable(silver):
    assert check_clv(silver, AS_OF).status == "ok"
    check = check_clv(silver, date(2023, 12, 1))  # the first order is on that day, after its 00:00 cut-off
    assert check == FamilyCheck("clv_bracket", "not_applicable", "clv: no completed orders before 2023-12-01")


def test_a_required_family_that_cannot_be_trained_fails_the_run_before_the_features(spark, tmp_path):
    from seglib.errors import RequiredFamilyError
    from seglib.run_types import RunContext
    from seglib.stages import check_families

    # An empty warehouse: silver reads as empty, so no target has anything to learn from.
    cfg = load_config(
        (), [f"warehouse.path={tmp_path / 'wh'}", "propensity.targets={purchase: {kind: purchase, required: true}}"]
    )
    ctx = RunContext.create(AS_OF, "r1")
    with pytest.raises(RequiredFamilyError, match="purchase: no completed orders in the data"):
        check_families(spark, cfg, ctx, ("features", "propensity"))
    relaxed = load_config((), [f"warehouse.path={tmp_path / 'wh'}"])
    checks = check_families(spark, relaxed, ctx, ("features", "propensity", "clv"))
    assert {f: c.status for f, c in checks.items()} == {
        "propensity_purchase": "not_applicable",
        "propensity_churn": "not_applicable",
        "propensity_upgrade": "not_applicable",
        "clv_bracket": "not_applicable",
    }
    assert check_families(spark, relaxed, ctx, ("features", "cluster")) == {}  # nothing trained: nothing checked
