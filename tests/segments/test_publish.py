from datetime import date, datetime

from chispa import assert_df_equality

from seglib.delta_io import read_table
from seglib.segments.publish import cluster_membership, segment_summary, write_segments
from seglib.tables import Warehouse

NOW = datetime(2026, 11, 1, 8, 0)


def _assigned(spark):
    return spark.createDataFrame(
        [("a", 0, "high-spend"), ("b", 0, "high-spend"), ("c", 1, "new")],
        "subject_id string, cluster_id int, persona string",
    )


def test_summary_counts_shares_and_min_size(spark):
    membership = cluster_membership(_assigned(spark), date(2026, 11, 1), "m", "1", "r1", NOW)
    summary = segment_summary(membership, min_segment_size=2).select(
        "segment_id", "segment_name", "size", "share", "meets_min_size"
    )
    expected = spark.createDataFrame(
        [("0", "high-spend", 2, 0.6667, True), ("1", "new", 1, 0.3333, False)],
        "segment_id string, segment_name string, size bigint, share double, meets_min_size boolean",
    )
    assert_df_equality(summary, expected, ignore_row_order=True, ignore_nullable=True)


def test_snapshots_are_replaced_atomically_and_history_kept(spark, tmp_path):
    tables = Warehouse(str(tmp_path))
    for day, run in [(date(2026, 11, 1), "r1"), (date(2026, 11, 2), "r2"), (date(2026, 11, 1), "r3")]:
        membership = cluster_membership(_assigned(spark), day, "m", "1", run, NOW)
        write_segments(membership, segment_summary(membership, 1), tables, day)
    current = read_table(spark, tables.location("segments/segment_membership"))
    runs = current.groupBy("snapshot_date").agg({"run_id": "max"}).orderBy("snapshot_date").collect()
    assert [(r[0], r[1]) for r in runs] == [(date(2026, 11, 1), "r3"), (date(2026, 11, 2), "r2")]
    assert current.count() == 6
    first_version = read_table(spark, tables.location("segments/segment_membership"), version=0)
    assert first_version.select("run_id").distinct().collect()[0][0] == "r1"
