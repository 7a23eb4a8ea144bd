from datetime import date, datetime

from chispa import assert_df_equality

from seglib.delta_io import read_table
from seglib.segments.publish import PROFILES, cluster_membership, write_cluster_snapshot
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


def test_assignments_carry_the_mixture_probability_as_confidence_or_null(spark):
    with_p = _membership(spark, with_probability=True).select("subject_id", "segment_id", "confidence")
    without = _membership(spark).select("subject_id", "segment_id", "confidence")
    schema = "subject_id string, segment_id string, confidence double"
    expected_with = spark.createDataFrame([("a", "S001", 0.9), ("b", "S001", 0.6), ("c", "S002", None)], schema)
    expected_without = spark.createDataFrame([("a", "S001", None), ("b", "S001", None), ("c", "S002", None)], schema)
    assert_df_equality(with_p, expected_with, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(without, expected_without, ignore_row_order=True, ignore_nullable=True)
    assert {r[0] for r in _membership(spark).select("assignment_source").distinct().collect()} == {"cluster"}


def test_snapshots_are_replaced_atomically_and_history_kept(spark, tmp_path):
    tables = Warehouse(str(tmp_path))
    for day, run in [(date(2026, 11, 1), "r1"), (date(2026, 11, 2), "r2"), (date(2026, 11, 1), "r3")]:
        profiles = spark.createDataFrame([], PROFILES.schema)
        write_cluster_snapshot(_membership(spark, day, run), profiles, tables, day)
    current = read_table(spark, tables.location("models/cluster_assignments"))
    runs = current.groupBy("snapshot_date").agg({"run_id": "max"}).orderBy("snapshot_date").collect()
    assert [(r[0], r[1]) for r in runs] == [(date(2026, 11, 1), "r3"), (date(2026, 11, 2), "r2")]
    assert current.count() == 6
    first_version = read_table(spark, tables.location("models/cluster_assignments"), version=0)
    assert first_version.select("run_id").distinct().collect()[0][0] == "r1"
