from datetime import date, datetime

from chispa import assert_df_equality

from seglib.delta_io import read_table
from seglib.segments.publish import cluster_membership, segment_summary, write_segments
from seglib.tables import Warehouse

NOW = datetime(2026, 11, 1, 8, 0)


def _assigned(spark, with_probability: bool = False):
    if with_probability:
        return spark.createDataFrame(
            [("a", 0, 0.9), ("b", 0, 0.6), ("c", 1, None)], "subject_id string, cluster_id int, max_probability double"
        )
    return spark.createDataFrame([("a", 0), ("b", 0), ("c", 1)], "subject_id string, cluster_id int")


def _segments(spark):
    return spark.createDataFrame(
        [(0, "S001", "high-spend"), (1, "S002", "new")], "cluster_id int, segment_id string, segment_name string"
    )


def _membership(spark, day=date(2026, 11, 1), run="r1", with_probability=False):
    return cluster_membership(_assigned(spark, with_probability), _segments(spark), day, "m", "1", run, NOW)


def test_membership_carries_the_mixture_probability_or_null(spark):
    with_p = _membership(spark, with_probability=True).select("subject_id", "segment_id", "membership_probability")
    without = _membership(spark).select("subject_id", "segment_id", "membership_probability")
    schema = "subject_id string, segment_id string, membership_probability double"
    expected_with = spark.createDataFrame([("a", "S001", 0.9), ("b", "S001", 0.6), ("c", "S002", None)], schema)
    expected_without = spark.createDataFrame([("a", "S001", None), ("b", "S001", None), ("c", "S002", None)], schema)
    assert_df_equality(with_p, expected_with, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(without, expected_without, ignore_row_order=True, ignore_nullable=True)


def test_summary_counts_shares_and_both_size_floors(spark):
    membership = _membership(spark)
    columns = ["segment_id", "segment_name", "size", "share", "meets_min_size"]
    by_size = segment_summary(membership, min_segment_size=2).select(*columns)
    by_share = segment_summary(membership, min_segment_size=1, min_segment_share=0.5).select(*columns)
    schema = "segment_id string, segment_name string, size bigint, share double, meets_min_size boolean"
    expected = spark.createDataFrame(
        [("S001", "high-spend", 2, 0.6667, True), ("S002", "new", 1, 0.3333, False)], schema
    )
    assert_df_equality(by_size, expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(by_share, expected, ignore_row_order=True, ignore_nullable=True)


def test_snapshots_are_replaced_atomically_and_history_kept(spark, tmp_path):
    tables = Warehouse(str(tmp_path))
    for day, run in [(date(2026, 11, 1), "r1"), (date(2026, 11, 2), "r2"), (date(2026, 11, 1), "r3")]:
        membership = _membership(spark, day, run)
        write_segments(membership, segment_summary(membership, 1), tables, day)
    current = read_table(spark, tables.location("segments/segment_membership"))
    runs = current.groupBy("snapshot_date").agg({"run_id": "max"}).orderBy("snapshot_date").collect()
    assert [(r[0], r[1]) for r in runs] == [(date(2026, 11, 1), "r3"), (date(2026, 11, 2), "r2")]
    assert current.count() == 6
    first_version = read_table(spark, tables.location("segments/segment_membership"), version=0)
    assert first_version.select("run_id").distinct().collect()[0][0] == "r1"
