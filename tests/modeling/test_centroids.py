import pytest
from chispa import assert_df_equality
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.sql.types import IntegerType, StructField, StructType

from seglib.modeling.centroids import NearestCentroidModel, lloyd, nearest_centre, partition_means, within_cost


@pytest.fixture(scope="module")
def two_groups(spark):
    """Two groups of three points; group means (1, 0) and (10, 2)."""
    points = [(0.0, 0.0), (1.0, 1.0), (2.0, -1.0), (9.0, 2.0), (10.0, 3.0), (11.0, 1.0)]
    return spark.createDataFrame(
        [(i, i // 3, Vectors.dense(p)) for i, p in enumerate(points)],
        StructType(
            [StructField("id", IntegerType()), StructField("group", IntegerType()), StructField("v", VectorUDT())]
        ),
    )


def test_lloyd_from_given_centres_reaches_the_group_means(two_groups):
    centres, cost, iterations = lloyd(two_groups, "v", [[0.0, 0.0], [2.0, -1.0]], max_iter=20)
    assert centres == [pytest.approx([1.0, 0.0]), pytest.approx([10.0, 2.0])]
    assert cost == pytest.approx(8.0)  # each group: 1+1 + 0+1 + 1+1
    assert 1 < iterations < 20  # moved, then converged before the cap


def test_lloyd_keeps_a_centre_that_loses_every_point(two_groups):
    centres, _, _ = lloyd(two_groups, "v", [[5.0, 1.0], [100.0, 100.0]], max_iter=5)
    assert centres[1] == [100.0, 100.0]
    assert centres[0] == pytest.approx([5.5, 1.0])


def test_nearest_centre_assigns_ties_to_the_lowest_index(spark):
    df = spark.createDataFrame(
        [(Vectors.dense([0.0]),), (Vectors.dense([2.0]),), (Vectors.dense([1.0]),)],
        StructType([StructField("v", VectorUDT())]),
    )
    got = [r.c for r in df.select(nearest_centre(df.v, [[0.0], [2.0]]).alias("c")).collect()]
    assert got == [0, 1, 0]


def test_partition_means_and_within_cost(two_groups):
    means = partition_means(two_groups, "v", "group", 2)
    assert means == [pytest.approx([1.0, 0.0]), pytest.approx([10.0, 2.0])]
    assert within_cost(two_groups, "v", means) == pytest.approx(8.0)
    with pytest.raises(ValueError, match=r"clusters \[2\] of 3 have no rows"):
        partition_means(two_groups, "v", "group", 3)


def test_nearest_centroid_model_saves_loads_and_assigns(two_groups, tmp_path):
    model = NearestCentroidModel(
        centres=[[1.0, 0.0], [10.0, 2.0]], featuresCol="v", predictionCol="c", trainingCost=8.0
    )
    model.write().overwrite().save(str(tmp_path / "m"))
    loaded = NearestCentroidModel.load(str(tmp_path / "m"))
    assert loaded.clusterCenters() == [[1.0, 0.0], [10.0, 2.0]]
    assert loaded.cost() == 8.0
    expected = two_groups.withColumnRenamed("group", "c").select("id", "c")
    assert_df_equality(loaded.transform(two_groups).select("id", "c"), expected, ignore_nullable=True)
