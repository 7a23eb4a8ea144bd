import re

import pytest
from chispa import assert_df_equality

from seglib import delta_io
from seglib.delta_io import KEY_VERSION_PROPERTY, KeyVersionError, TableSpec


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


# ---------------------------------------------------------------- pseudonym key version


def _key_version(spark, loc):
    return (spark.sql(f"DESCRIBE DETAIL delta.`{loc}`").first()["properties"] or {}).get(KEY_VERSION_PROPERTY)


def _commits(spark, loc):
    return spark.sql(f"DESCRIBE HISTORY delta.`{loc}`").count()


def test_a_write_records_the_key_version_in_the_creating_commit_and_adds_no_commit_while_it_holds(spark, tmp_table):
    loc = tmp_table()
    spec = TableSpec(loc, key_version="v1")
    delta_io.write_table(spark.createDataFrame([("p1", 1)], "subject_id string, v int"), spec)
    assert _key_version(spark, loc) == "v1"
    assert _commits(spark, loc) == 1  # the property came with the data: no ALTER
    delta_io.write_table(spark.createDataFrame([("p2", 2)], "subject_id string, v int"), spec, mode="append")
    delta_io.merge_upsert(spark.createDataFrame([("p2", 3)], "subject_id string, v int"), spec, ["subject_id"])
    assert (_key_version(spark, loc), _commits(spark, loc)) == ("v1", 3)


def test_a_merge_append_or_replace_where_into_a_table_at_another_key_is_refused_and_writes_nothing(spark, tmp_table):
    loc = tmp_table()
    schema = "subject_id string, d int"
    delta_io.write_table(spark.createDataFrame([("old", 1)], schema), TableSpec(loc, key_version="v1"))
    rotated = TableSpec(loc, key_version="v2")
    new = spark.createDataFrame([("new", 1)], schema)
    message = re.escape(
        f"{loc} records pseudonym key v1 but this write's pseudonyms are under key v2: "
        "run `seg rekey --from-version v1` first (nothing was written)"
    )
    with pytest.raises(KeyVersionError, match=message):
        delta_io.merge_upsert(new, rotated, ["d"])
    with pytest.raises(KeyVersionError, match=message):
        delta_io.write_table(new, rotated, mode="append")
    with pytest.raises(KeyVersionError, match=message):
        delta_io.write_table(new, rotated, replace_where="d = 1")
    assert [tuple(r) for r in delta_io.read_table(spark, loc).collect()] == [("old", 1)]
    assert (_key_version(spark, loc), _commits(spark, loc)) == ("v1", 1)

    delta_io.write_table(new, rotated)  # a full overwrite replaces every row: restamped
    assert [tuple(r) for r in delta_io.read_table(spark, loc).collect()] == [("new", 1)]
    assert _key_version(spark, loc) == "v2"


def test_a_table_recording_no_key_version_is_stamped_by_its_next_write(spark, tmp_table):
    loc = tmp_table()
    delta_io.write_table(spark.createDataFrame([("p1", 1)], "subject_id string, v int"), TableSpec(loc))
    assert _key_version(spark, loc) is None
    delta_io.merge_upsert(
        spark.createDataFrame([("p2", 2)], "subject_id string, v int"), TableSpec(loc, key_version="v1"), ["v"]
    )
    assert _key_version(spark, loc) == "v1"


def test_a_copy_records_the_key_version_of_its_sources_and_refuses_while_they_disagree(spark, tmp_table):
    events, orders, derived = tmp_table("events"), tmp_table("orders"), tmp_table("derived")
    row = spark.createDataFrame([("p1", 1)], "subject_id string, v int")
    delta_io.write_table(row, TableSpec(events, key_version="v2"))
    copy = TableSpec(derived, key_version_from=(events, orders))  # orders does not exist yet: not consulted
    delta_io.write_table(row, copy)
    assert _key_version(spark, derived) == "v2"

    delta_io.write_table(row, TableSpec(orders, key_version="v1"))  # a rekey that stopped half-way
    disagree = re.escape(f"({events} at v2, {orders} at v1)")
    with pytest.raises(KeyVersionError, match=rf"cannot write {re.escape(derived)}: .*{disagree}"):
        delta_io.write_table(row, copy)
    assert _commits(spark, derived) == 1
