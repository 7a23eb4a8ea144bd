from seglib.delta_io import TableSpec, write_table
from seglib.ingest.bookmarks import read_raw_batch

SCHEMA = "k string, v int"


def ks(batch):
    return sorted(r["k"] for r in batch.df.collect())


def test_first_read_is_full_then_only_new_rows_via_change_feed(spark, tmp_table):
    loc = tmp_table("raw")
    write_table(spark.createDataFrame([("a", 1), ("b", 2)], SCHEMA), TableSpec(loc))
    first = read_raw_batch(spark, "raw_x", loc, None)
    assert (first.method, ks(first)) == ("full", ["a", "b"])
    write_table(spark.createDataFrame([("c", 3)], SCHEMA), TableSpec(loc), mode="append")
    second = read_raw_batch(spark, "raw_x", loc, first.version)
    assert (second.method, ks(second)) == ("cdf", ["c"])
    assert second.version > first.version  # the append plus write_table's metadata commit
    assert second.df.columns == ["k", "v"]
    unchanged = read_raw_batch(spark, "raw_x", loc, second.version)
    assert (unchanged.method, ks(unchanged)) == ("none", [])


def test_file_diff_when_table_has_no_change_feed(spark, tmp_table):
    loc = tmp_table("raw_nocdf")
    spark.createDataFrame([("a", 1)], SCHEMA).write.format("delta").save(loc)
    spark.createDataFrame([("b", 2), ("c", 3)], SCHEMA).write.format("delta").mode("append").save(loc)
    batch = read_raw_batch(spark, "raw_x", loc, 0)
    assert (batch.method, ks(batch)) == ("file_diff", ["b", "c"])
    assert batch.df.columns == ["k", "v"]


def test_file_diff_when_change_feed_was_enabled_after_the_bookmark(spark, tmp_table):
    loc = tmp_table("raw_latecdf")
    spark.createDataFrame([("a", 1)], SCHEMA).write.format("delta").save(loc)
    spark.createDataFrame([("b", 2)], SCHEMA).write.format("delta").mode("append").save(loc)
    spark.sql(f"ALTER TABLE delta.`{loc}` SET TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
    spark.createDataFrame([("c", 3)], SCHEMA).write.format("delta").mode("append").save(loc)
    batch = read_raw_batch(spark, "raw_x", loc, 0)  # v1 predates the change feed: Delta refuses a CDF read
    assert (batch.method, ks(batch)) == ("file_diff", ["b", "c"])
