"""Spark 3.5 stand-ins for Spark 4 built-ins: same results as the built-ins the 4.1 line uses."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglib.features.events import most_frequent


def test_most_frequent_breaks_ties_to_the_smallest_value_and_skips_nulls(spark):
    df = spark.createDataFrame(
        [("a", "FR"), ("a", "DE"), ("a", "FR"), ("a", "DE"), ("a", None), ("a", None), ("a", None), ("b", "US"),
         ("c", None)],
        "subject_id string, country string",
    )  # fmt: skip
    out = df.groupBy("subject_id").agg(most_frequent(F.col("country")).alias("country"))
    expected = spark.createDataFrame([("a", "DE"), ("b", "US"), ("c", None)], "subject_id string, country string")
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
