from pyspark.sql import functions as F

from seglib.generate.rand import Rng, cumulative, lit_array, pick, weighted_index


def test_cumulative_is_normalised_and_ends_at_one():
    assert cumulative([1, 1, 2]) == [0.25, 0.5, 1.0]


def test_uniform_is_in_unit_interval_and_depends_only_on_seed_and_keys(spark):
    df = spark.range(2000, numPartitions=3)
    a = df.select("id", Rng(1).u("x", "id").alias("u"))
    b = spark.range(2000, numPartitions=1).select("id", Rng(1).u("x", "id").alias("u"))
    stats = a.agg(F.min("u"), F.max("u"), F.avg("u")).first()
    assert stats[0] >= 0.0 and stats[1] < 1.0
    assert 0.45 < stats[2] < 0.55
    assert a.join(b, "id").where(a.u != b.u).count() == 0
    other_seed = df.select("id", Rng(2).u("x", "id").alias("v"))
    assert a.join(other_seed, "id").where("u = v").count() == 0


def test_weighted_index_and_pick_follow_buckets(spark):
    df = spark.createDataFrame([(0.0,), (0.24,), (0.25,), (0.6,), (0.99,)], "u double")
    out = df.select(
        weighted_index(F.col("u"), lit_array(cumulative([1, 1, 2]))).alias("i"),
        pick(F.col("u"), ["a", "b", "c", "d"]).alias("p"),
    ).collect()
    assert [r.i for r in out] == [0, 0, 1, 2, 2]
    assert [r.p for r in out] == ["a", "a", "b", "c", "d"]
