from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from seglib.config import SeglibConfig, WarehouseConfig
from seglib.config.segments import SegmentsConfig
from seglib.delta_io import read_table
from seglib.run_types import ModelRegistration, RunContext
from seglib.segments.snapshot import publish_snapshot
from seglib.segments.stable_ids import match_by_centroid, match_by_overlap
from seglib.tables import Warehouse

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)
# group -> (monetary_365d, sessions_90d): four well separated kinds of subject
GROUPS = {"a": (500.0, 2), "b": (10.0, 20), "c": (10.0, 1), "d": (200.0, 10), "e": (480.0, 3)}


def test_hungarian_overlap_matching_ignores_cluster_numbering_and_weak_overlap():
    overlap = {(0, "S002"): 9, (1, "S001"): 8, (1, "S002"): 1, (2, "S001"): 1}
    matched = match_by_overlap(overlap, {0: 10, 1: 10, 2: 10}, {"S001": 10, "S002": 10}, min_jaccard=0.2)
    assert matched == {0: ("S002", pytest.approx(9 / 11)), 1: ("S001", pytest.approx(8 / 12))}


def test_centroid_fallback_matches_within_the_distance():
    new = {0: {"x": 1.0, "y": 0.0}, 1: {"x": -3.0, "y": 3.0}}
    old = {"S001": {"x": 0.9, "y": 0.1}, "S002": {"x": 3.0, "y": -3.0}}
    assert match_by_centroid(new, old, max_distance=1.0) == {0: ("S001", pytest.approx(0.1))}


def _snapshot(spark, members: dict[str, int]):
    """subjects <group><i> for each group -> (assignments, features); 4 subjects per group, 1 for group e."""
    rows = [(f"{g}{i}", c) for g, c in members.items() for i in range(1 if g == "e" else 4)]
    assignments = spark.createDataFrame(rows, "subject_id string, cluster_id int")
    features = spark.createDataFrame(
        [(s, *GROUPS[s[0]]) for s, _ in rows], "subject_id string, monetary_365d double, sessions_90d int"
    )
    return assignments, features


def test_ids_and_names_persist_across_snapshots_new_and_vanished_are_flagged(spark, tmp_path):
    cfg = SeglibConfig(warehouse=WarehouseConfig(path=str(tmp_path)), segments=SegmentsConfig(min_segment_size=2))
    model = ModelRegistration("m", "1", "champion")
    # day 1: a tiny cluster 3 (one subject like group a) is merged into a's cluster
    day1 = _snapshot(spark, {"a": 0, "b": 1, "c": 2, "e": 3})
    first = publish_snapshot(spark, cfg, RunContext(DAY1, datetime(2026, 11, 1), "r1"), *day1, model)
    assert first.merged == {3: 0}
    assert [(p.segment_id, p.size, p.source_clusters) for p in first.personas] == [
        ("S001", 5, [0, 3]),
        ("S002", 4, [1]),
        ("S003", 4, [2]),
    ]
    # day 2: the model numbers its clusters differently, group c is gone and group d is new
    day2 = _snapshot(spark, {"a": 2, "b": 0, "d": 1})
    second = publish_snapshot(spark, cfg, RunContext(DAY2, datetime(2026, 11, 2), "r2"), *day2, model)
    assert second.ids.report() == {
        "method": "overlap",
        "matched": {"S001": 0.8, "S002": 1.0},
        "new": ["S004"],
        "vanished": {"S003": first.names["S003"]},
    }
    assert second.names["S001"] == first.names["S001"] and second.names["S002"] == first.names["S002"]
    assert len(set(second.names.values())) == 3

    tables = Warehouse.of(cfg)
    membership = read_table(spark, tables.location("models/cluster_assignments"))
    published = membership.where(f"snapshot_date = DATE'{DAY2}'").select("subject_id", "segment_id")
    expected = spark.createDataFrame(
        [(f"{g}{i}", seg) for g, seg in (("a", "S001"), ("b", "S002"), ("d", "S004")) for i in range(4)],
        "subject_id string, segment_id string",
    )
    assert_df_equality(published, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    profiles = read_table(spark, tables.location("models/cluster_profiles"))
    flags = profiles.where(f"snapshot_date = DATE'{DAY2}'").select("segment_id", "is_new", "size")
    assert sorted(tuple(r) for r in flags.collect()) == [("S001", False, 4), ("S002", False, 4), ("S004", True, 4)]
