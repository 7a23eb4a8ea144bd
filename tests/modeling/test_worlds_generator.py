"""The independent planted-world generator (benchmarks/worlds): reproducible, signal only where the spec puts it."""

from __future__ import annotations

from datetime import date

import numpy as np

from benchmarks.worlds.generator import latents, to_spark
from benchmarks.worlds.spec import WORLDS, WorldSpec
from seglib.generate.tables import CONTRACT

SPEC = WorldSpec("tiny", shares=(0.5, 0.3, 0.2), signal=("purchase",), customers=60, seed=3)


def _segment_gap(z: np.ndarray, segment: np.ndarray) -> float:
    """Largest distance between two segments' mean latents (0 = the group carries no segment information)."""
    means = [z[segment == s].mean(axis=0) for s in np.unique(segment)]
    return max(float(np.linalg.norm(a - b)) for a in means for b in means)


def test_segments_differ_only_in_their_signal_group():
    segment = np.repeat([0, 1, 2], 2000)
    z = latents(np.random.default_rng(0), WorldSpec("t", shares=(1, 1, 1), signal=("purchase",)), segment)
    assert _segment_gap(z["purchase"], segment) > 4.0
    assert max(_segment_gap(z[g], segment) for g in ("engagement", "firmographic", "text")) < 0.5


def test_draw_is_reproducible_and_orders_only_has_no_events():
    from benchmarks.worlds.generator import draw_world

    first, again = draw_world(SPEC, date(2026, 6, 1)), draw_world(SPEC, date(2026, 6, 1))
    assert first["raw_orders"].equals(again["raw_orders"])
    assert sorted(first["truth"].planted_segment.unique()) == ["seg_0", "seg_1", "seg_2"]
    orders_only = draw_world(WorldSpec("o", orders_only=True, customers=20), date(2026, 6, 1))
    assert "raw_events" not in orders_only and "raw_texts" not in orders_only


def test_world_catalogue_spans_the_bench():
    planted = sorted(w.k for w in WORLDS.values())
    assert planted[0] <= 3 and planted[-1] >= 9
    assert {g for w in WORLDS.values() for g in w.signal} >= {"purchase", "engagement", "firmographic", "text"}
    assert sum(w.source == "independent" for w in WORLDS.values()) >= 2


def test_tables_conform_to_the_raw_contract(spark):
    from benchmarks.worlds.generator import draw_world

    frames = draw_world(WorldSpec("t", customers=8, seed=2), date(2026, 6, 1))
    orders = to_spark(spark, frames["raw_orders"], CONTRACT["raw_orders"])
    assert [(f.name, f.dataType.simpleString()) for f in orders.schema] == [
        (name, dtype) for name, dtype, _ in CONTRACT["raw_orders"]
    ]
    empty = to_spark(spark, None, CONTRACT["raw_texts"])
    assert empty.count() == 0 and empty.columns == [name for name, _, _ in CONTRACT["raw_texts"]]


def test_nobody_orders_or_visits_before_signing_up():
    from benchmarks.worlds.generator import draw_world

    frames = draw_world(WorldSpec("s", customers=200, days=365, seed=4), date(2026, 6, 1))
    signup = frames["raw_crm_customers"].drop_duplicates("customer_id").set_index("customer_id").signup_s
    orders, events = frames["raw_orders"], frames["raw_events"]
    day = 86_400
    assert (orders.order_ts.to_numpy() >= signup.loc[orders.customer_id].to_numpy() - day).all()
    logged = events[events.customer_id.notna()]
    assert (logged.event_ts.to_numpy() >= signup.loc[logged.customer_id].to_numpy() - day).all()


def test_centre_gap_ignores_the_axes_no_feature_shows():
    from benchmarks.worlds.generator import DIMS, HIDDEN, segment_centres

    spec = WorldSpec("g", shares=(1, 1, 1, 1), signal=("purchase",), min_centre_distance=6.0, seed=9)
    centres = segment_centres(np.random.default_rng(0), spec)["purchase"]
    shown = [d for d in range(DIMS["purchase"]) if d not in HIDDEN["purchase"]]
    gaps = [np.linalg.norm(centres[i, shown] - centres[j, shown]) for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) >= 6.0
