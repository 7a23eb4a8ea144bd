"""The published segment tables: current membership, SCD2 history, transitions, publications; re-runs, a killed run,
and a reader without Spark (delta-rs + DuckDB)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglib.delta_io import current_version, read_table
from seglib.segments.history import SnapshotOrderError
from seglib.tables import Warehouse
from tests.segments.publication_world import DAY1, DAY2, SNAPSHOTS, publish

ROOT = Path(__file__).resolve().parents[2]
HISTORY_COLUMNS = ["subject_id", "segment_family", "segment_id", "valid_from", "valid_to", "is_current"]
EXPECTED_HISTORY = [
    ("a", "playbook", "loyal", DAY1, DAY2, False),
    ("a", "playbook", "at_risk", DAY2, None, True),
    ("b", "playbook", "loyal", DAY1, DAY2, False),
    ("c", "playbook", "loyal", DAY2, None, True),
    ("d", "playbook", "other", DAY1, None, True),
    ("a", "tags", "cart_abandoner", DAY1, DAY2, False),
    ("d", "tags", "cart_abandoner", DAY1, None, True),
    ("d", "tags", "ready_to_buy", DAY2, None, True),
]


def _read(spark, tables: Warehouse, name: str, version: int | None = None):
    return read_table(spark, tables.location(f"segments/{name}"), version=version)


def _history(spark, tables):
    return _read(spark, tables, "segment_membership_history").select(*HISTORY_COLUMNS)


def _expected_history(spark):
    schema = "subject_id string, segment_family string, segment_id string, valid_from date, valid_to date, " + (
        "is_current boolean"
    )
    return spark.createDataFrame(EXPECTED_HISTORY, schema)


def _assert_clean_history(spark, tables):
    """The history of one clean run of each snapshot, whatever happened in between."""
    expected = _expected_history(spark)
    assert_df_equality(
        _history(spark, tables), expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def _membership_keys(spark, tables, version=None):
    return sorted(
        tuple(r)
        for r in _read(spark, tables, "segment_membership", version)
        .select("subject_id", "segment_family", "segment_id")
        .collect()
    )


@pytest.fixture(scope="module")
def two_snapshots(spark, tmp_path_factory):
    """Snapshot 1, snapshot 2, then snapshot 2 again after a different (wrong) publication of it: the history and
    transitions must be those of one clean run of each."""
    tables = Warehouse(str(tmp_path_factory.mktemp("segments")))
    first = publish(spark, tables, DAY1, "r1")
    publish(spark, tables, DAY2, "wrong", rows=[("a", "playbook", "lapsed"), ("d", "tags", "cart_abandoner")])
    second = publish(spark, tables, DAY2, "r2")
    return tables, first, second


def test_history_is_scd2_per_subject_family_and_segment_after_a_rerun(spark, two_snapshots):
    tables, _, _ = two_snapshots
    _assert_clean_history(spark, tables)
    # Rows opened by snapshot 2 carry its run; rows continuing from snapshot 1 keep the run that opened them.
    runs = {
        (r.subject_id, r.segment_id): r.run_id for r in _read(spark, tables, "segment_membership_history").collect()
    }
    assert runs[("c", "loyal")] == "r2" and runs[("d", "other")] == "r1"


def test_transitions_record_moves_entries_and_exits_of_exclusive_families(spark, two_snapshots):
    tables, first, second = two_snapshots
    assert first.previous_snapshot_date is None and second.previous_snapshot_date == DAY1
    got = _read(spark, tables, "segment_transitions").select(
        "subject_id", "segment_family", "from_segment_id", "to_segment_id", "snapshot_date", "previous_snapshot_date"
    )
    expected = spark.createDataFrame(
        [
            ("a", "playbook", "loyal", "at_risk", DAY2, DAY1),
            ("b", "playbook", "loyal", None, DAY2, DAY1),
            ("c", "playbook", None, "loyal", DAY2, DAY1),
        ],
        "subject_id string, segment_family string, from_segment_id string, to_segment_id string, snapshot_date date, "
        "previous_snapshot_date date",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert second.transitions == 3


def test_membership_is_the_latest_snapshot_and_time_travel_gives_the_first(spark, two_snapshots):
    tables, first, second = two_snapshots
    assert _membership_keys(spark, tables) == sorted(SNAPSHOTS[DAY2])
    assert _membership_keys(spark, tables, first.table_versions["segments/segment_membership"]) == sorted(
        SNAPSHOTS[DAY1]
    )
    # One row per completed publication, appended in the order the runs completed: the Delta commits say which
    # publication of a snapshot came last (every publish here passes the same published_at, so the rows cannot).
    location = tables.location("segments/segment_publications")
    appended, seen = [], Counter()
    for version in range(current_version(spark, location) + 1):
        rows = Counter((r.snapshot_date, r.run_id) for r in read_table(spark, location, version=version).collect())
        appended += sorted((rows - seen).elements())
        seen = rows
    assert appended == [(DAY1, "r1"), (DAY2, "wrong"), (DAY2, "r2")]
    assert seen == Counter(appended)  # and nothing was removed
    latest = _read(spark, tables, "segment_publications").where(F.col("run_id") == "r2").first()
    assert latest.table_versions == second.table_versions and latest.subjects == 3


def test_an_older_snapshot_is_refused(spark, two_snapshots):
    tables, _, _ = two_snapshots
    with pytest.raises(SnapshotOrderError, match="older than the latest published segment snapshot 2026-11-08"):
        publish(spark, tables, date(2026, 11, 2), "late", rows=SNAPSHOTS[DAY1])


def test_a_run_killed_half_way_leaves_readable_tables_and_a_rerun_completes(spark, tmp_path):
    tables = Warehouse(str(tmp_path / "wh"))
    first = publish(spark, tables, DAY1, "r1")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(
        [sys.executable, "-m", "tests.segments.publication_world", tables.root],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]  # SIGKILL: no finally block, no clean-up ran
    assert "killing the run" in child.stdout
    # Every table reads; consumers of the current membership and of the publication log still see snapshot 1.
    assert _membership_keys(spark, tables) == sorted(SNAPSHOTS[DAY1])
    publications = _read(spark, tables, "segment_publications")
    assert [r.snapshot_date for r in publications.collect()] == [DAY1]
    assert _history(spark, tables).count() > 0
    # The re-run of snapshot 2 completes, with the history of a clean run.
    publish(spark, tables, DAY2, "r2")
    assert _membership_keys(spark, tables) == sorted(SNAPSHOTS[DAY2])
    _assert_clean_history(spark, tables)
    assert first.table_versions["segments/segment_membership"] == 0


def test_tables_read_without_spark_by_delta_rs_and_duckdb(two_snapshots):
    """What a warehouse or notebook consumer does: delta-rs opens the tables (current and an older version), DuckDB
    queries them. No JVM involved."""
    import duckdb
    from deltalake import DeltaTable

    tables, first, _ = two_snapshots
    path = {n: tables.location(f"segments/{n}") for n in ("segment_membership", "segment_membership_history")}
    current = DeltaTable(path["segment_membership"]).to_pyarrow_dataset()
    v1 = first.table_versions["segments/segment_membership"]
    older = DeltaTable(path["segment_membership"], version=v1).to_pyarrow_dataset()
    history = DeltaTable(path["segment_membership_history"]).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("current_members", current)
    con.register("older_members", older)
    con.register("history", history)
    sizes = "SELECT segment_id, count(*) FROM {} WHERE segment_family = 'playbook' GROUP BY 1 ORDER BY 1"
    assert con.execute(sizes.format("current_members")).fetchall() == [("at_risk", 1), ("loyal", 1), ("other", 1)]
    assert con.execute(sizes.format("older_members")).fetchall() == [("loyal", 2), ("other", 1)]
    as_of_day1 = con.execute(
        "SELECT subject_id, segment_id FROM history WHERE segment_family = 'playbook' AND valid_from <= DATE "
        "'2026-11-01' AND (valid_to IS NULL OR valid_to > DATE '2026-11-01') ORDER BY 1"
    ).fetchall()
    assert as_of_day1 == [("a", "loyal"), ("b", "loyal"), ("d", "other")]
    lineage = con.execute("SELECT DISTINCT run_id, input_versions['features/subject_features'] FROM current_members")
    assert sorted(lineage.fetchall()) == [("r2", 3)]


def test_seg_show_lists_segments_prints_members_and_reads_an_older_version(spark, two_snapshots):
    from seglib.config import SeglibConfig, WarehouseConfig
    from seglib.errors import SeglibError
    from seglib.segments.show import show_segments

    tables, first, _ = two_snapshots
    cfg = SeglibConfig(warehouse=WarehouseConfig(path=tables.root))
    listing = show_segments(spark, cfg, None, None, "playbook", 20).splitlines()
    assert [line.split()[1] for line in listing[1:]] == ["at_risk", "loyal", "other"]
    assert show_segments(spark, cfg, None, "Loyal", None, 20).splitlines() == [
        "playbook / loyal 'Loyal': 1 subjects (snapshot 2026-11-08)",
        "  c",
    ]
    version = str(first.table_versions["segments/segment_membership"])
    assert show_segments(spark, cfg, version, "loyal", "playbook", 1).splitlines() == [
        f"playbook / loyal 'Loyal': 2 subjects (snapshot 2026-11-01 at {version})",
        "  a",
        "  ... 1 more (--limit)",
    ]
    with pytest.raises(SeglibError, match="no segment named or with id 'Nope'"):
        show_segments(spark, cfg, None, "Nope", None, 20)


def test_seg_show_withholds_the_members_of_a_segment_below_the_minimum_size(spark, tmp_path):
    from seglib.config import SeglibConfig, WarehouseConfig
    from seglib.segments.show import show_segments

    tables = Warehouse(str(tmp_path / "wh"))
    publish(spark, tables, DAY1, "r1", small=frozenset({"other"}))
    cfg = SeglibConfig(warehouse=WarehouseConfig(path=tables.root))
    assert show_segments(spark, cfg, None, "other", None, 20).splitlines() == [
        "playbook / other 'Other': 1 subjects (snapshot 2026-11-01)",
        "members withheld: the segment is below segments.min_segment_size/min_segment_share (k-anonymity)",
    ]
    assert "below minimum size" in show_segments(spark, cfg, None, None, "playbook", 20)
