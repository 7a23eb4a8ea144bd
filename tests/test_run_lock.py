"""Two runs on one warehouse: exactly one holds the lock; the other fails at once, naming the holder."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest

from seglib.config import SeglibConfig
from seglib.delta_io import read_table
from seglib.errors import RunLockedError
from seglib.run_lock import acquire, release, warehouse_lock
from seglib.run_types import RunContext
from seglib.tables import Warehouse


def _cfg(tmp_path, minutes: float = 60) -> SeglibConfig:
    return SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh"), "run_lock_minutes": minutes}})


def test_two_runs_started_together_on_a_fresh_warehouse(spark, tmp_path):
    cfg = _cfg(tmp_path)
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def start(run_id: str) -> None:
        barrier.wait()
        try:
            acquire(spark, cfg, run_id, "run")
            outcome[run_id] = "holds"
        except RunLockedError as exc:
            outcome[run_id] = str(exc)

    threads = [threading.Thread(target=start, args=(r,)) for r in ("run-a", "run-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    holders = [r for r, o in outcome.items() if o == "holds"]
    assert len(holders) == 1, outcome
    loser = next(r for r in outcome if r not in holders)
    assert "warehouse is busy" in outcome[loser] or "at the same moment" in outcome[loser]
    release(spark, cfg, holders[0])
    acquire(spark, cfg, loser, "run")  # free again once released
    rows = read_table(spark, Warehouse.of(cfg).location("ops/run_lock")).collect()
    assert [r["run_id"] for r in rows] == [loser]


def test_a_live_lease_blocks_and_names_its_holder_and_an_expired_one_is_taken_over(spark, tmp_path):
    live = _cfg(tmp_path)
    acquire(spark, live, "daily", "run")
    with pytest.raises(RunLockedError, match=r"run daily \(run on .*\) holds the run lock"):
        acquire(spark, live, "backfill", "run")
    expired = _cfg(tmp_path / "other", minutes=1e-6)  # a warehouse where leases lapse at once
    acquire(spark, expired, "crashed", "run")
    acquire(spark, expired, "next", "run")  # the crashed run's lease has lapsed: taken over
    assert read_table(spark, Warehouse.of(expired).location("ops/run_lock")).first()["run_id"] == "next"


def test_the_lock_is_released_when_the_run_fails(spark, tmp_path):
    cfg = _cfg(tmp_path)
    ctx = RunContext(as_of=date(2026, 1, 1), now=datetime(2026, 1, 1), run_id="failing")
    with pytest.raises(ZeroDivisionError), warehouse_lock(spark, cfg, ctx):
        1 / 0  # noqa: B018
    assert read_table(spark, Warehouse.of(cfg).location("ops/run_lock")).count() == 0
