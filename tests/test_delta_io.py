from chispa import assert_df_equality

from seglib import delta_io
from seglib.delta_io import TableSpec


def test_write_sets_properties_and_comments(spark, tmp_table):
    loc = tmp_table()
    df = spark.createDataFrame([(1, "a")], "id int, v string")
    delta_io.write_table(df, TableSpec(loc, comment="a table", column_comments={"v": "the value"}))
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{loc}`").first()
    assert detail["description"] == "a table"
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    comments = {r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE delta.`{loc}`").collect()}
    assert comments["v"] == "the value"


def test_merge_upsert_is_idempotent_and_time_travel_works(spark, tmp_table):
    loc = tmp_table()
    spec = TableSpec(loc)
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id int, v string")
    delta_io.merge_upsert(first, spec, keys=["id"])
    update = spark.createDataFrame([(2, "B"), (3, "c")], "id int, v string")
    delta_io.merge_upsert(update, spec, keys=["id"])
    delta_io.merge_upsert(update, spec, keys=["id"])  # same input again: no change
    expected = spark.createDataFrame([(1, "a"), (2, "B"), (3, "c")], "id int, v string")
    assert_df_equality(delta_io.read_table(spark, loc), expected, ignore_row_order=True)
    assert_df_equality(delta_io.read_table(spark, loc, version=0), first, ignore_row_order=True)


def test_merge_delete_condition(spark, tmp_table):
    loc = tmp_table()
    spec = TableSpec(loc)
    delta_io.merge_upsert(spark.createDataFrame([(1, False), (2, False)], "id int, gone boolean"), spec, ["id"])
    delta_io.merge_upsert(
        spark.createDataFrame([(2, True), (3, True)], "id int, gone boolean"), spec, ["id"], delete_condition="s.gone"
    )
    expected = spark.createDataFrame([(1, False)], "id int, gone boolean")
    assert_df_equality(delta_io.read_table(spark, loc), expected)


def test_replace_where_overwrites_one_partition_only(spark, tmp_table):
    loc = tmp_table()
    spec = TableSpec(loc, partition_by=("d",))
    delta_io.write_table(spark.createDataFrame([(1, 1), (2, 1)], "d int, v int"), spec)
    delta_io.write_table(spark.createDataFrame([(2, 9)], "d int, v int"), spec, replace_where="d = 2")
    expected = spark.createDataFrame([(1, 1), (2, 9)], "d int, v int")
    assert_df_equality(delta_io.read_table(spark, loc), expected, ignore_row_order=True)
