"""k-means started from given centres (Lloyd's iterations in Spark SQL) and the nearest-centre model it yields.

``pyspark.ml.clustering.KMeans`` cannot start from given centres (only the RDD API's ``initialModel`` can, which Spark
Connect lacks). The k selection needs it: k is chosen in a reduced space, and the final partition is refined in the
full feature space from the chosen partition's means. Each iteration is one aggregation (k small rows to the driver);
the assignment is a SQL expression over the vector's array, so nothing per subject leaves the executors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.ml import Model
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasPredictionCol
from pyspark.ml.stat import Summarizer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.frames import first_row

log = logging.getLogger(__name__)

Centres = list[list[float]]


def _dot(x: Column, weights: Sequence[float]) -> Column:
    lits = F.array(*[F.lit(float(w)) for w in weights])
    return F.aggregate(F.zip_with(x, lits, lambda a, b: a * b), F.lit(0.0), lambda acc, v: acc + v)


def nearest_centre(features: Column, centres: Centres) -> Column:
    """Index of the nearest centre (squared Euclidean; ties: the lowest index), as Spark's KMeansModel assigns."""
    x = vector_to_array(features)
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 is the same for every centre.
    # The smallest (distance, index) pair: structs order by their fields, so a tie goes to the lower index (and
    # Spark 3.5's array_position takes no column to look for).
    pairs = [
        F.struct((F.lit(sum(v * v for v in c)) - 2.0 * _dot(x, c)).alias("d"), F.lit(i).alias("i"))
        for i, c in enumerate(centres)
    ]
    return F.array_min(F.array(*pairs)).getField("i").cast("int")


def squared_distance(features: Column, centre: Column) -> Column:
    """Squared Euclidean distance of a vector column to an array column."""
    x = vector_to_array(features)
    return F.aggregate(F.zip_with(x, centre, lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda acc, v: acc + v)


def lloyd(
    data: DataFrame, features_col: str, centres: Centres, max_iter: int, tol: float = 1e-6
) -> tuple[Centres, float, int]:
    """(centres, within-cluster sum of squares, iterations) of Lloyd's iterations from ``centres``.

    Stops when no centre moves more than ``tol`` (Euclidean) or after ``max_iter`` rounds. A centre that loses
    every point keeps its place (as Spark's KMeans), so k never shrinks silently. ``data`` should be cached.
    """
    current = [list(map(float, c)) for c in centres]
    done = 0
    for done in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        means = (
            data.select(nearest_centre(F.col(features_col), current).alias("c"), F.col(features_col).alias("v"))
            .groupBy("c")
            .agg(Summarizer.mean(F.col("v")).alias("mean"))
            .collect()
        )
        moved = {int(r["c"]): [float(v) for v in r["mean"].toArray()] for r in means}
        shift = max(
            (sum((a - b) ** 2 for a, b in zip(current[i], m, strict=True)) ** 0.5 for i, m in moved.items()),
            default=0.0,
        )
        current = [moved.get(i, c) for i, c in enumerate(current)]
        if shift <= tol:
            break
    return current, within_cost(data, features_col, current), done


def within_cost(data: DataFrame, features_col: str, centres: Centres) -> float:
    """Within-cluster sum of squared distances of ``data`` to its nearest centres."""
    assigned = nearest_centre(F.col(features_col), centres)
    table = F.array(*[F.array(*[F.lit(float(v)) for v in c]) for c in centres])
    row = data.select(squared_distance(F.col(features_col), F.element_at(table, assigned + 1)).alias("d")).agg(
        F.sum("d").alias("cost")
    )
    return float(first_row(row)["cost"] or 0.0)


def partition_means(data: DataFrame, features_col: str, label_col: str, k: int) -> Centres:
    """The mean vector of each label 0..k-1 (a label without rows is an error: the partition had k clusters)."""
    rows = data.groupBy(label_col).agg(Summarizer.mean(F.col(features_col)).alias("mean")).collect()
    means = {int(r[label_col]): [float(v) for v in r["mean"].toArray()] for r in rows}
    missing = sorted(set(range(k)) - set(means))
    if missing:
        raise ValueError(f"partition_means: clusters {missing} of {k} have no rows")
    return [means[i] for i in range(k)]


class NearestCentroidModel(Model, HasFeaturesCol, HasPredictionCol, DefaultParamsReadable, DefaultParamsWritable):
    """Assigns each row to its nearest centre; the centres are a Param, so the model saves as plain metadata."""

    centres: Param[list[list[float]]] = Param(
        Params._dummy(), "centres", "cluster centres, one list of floats each", TypeConverters.toListListFloat
    )
    trainingCost: Param[float] = Param(
        Params._dummy(), "trainingCost", "within-cluster sum of squares on the rows it was fitted on",
        TypeConverters.toFloat,
    )  # fmt: skip

    def __init__(
        self,
        *,
        centres: Centres | None = None,
        featuresCol: str = "features",
        predictionCol: str = "prediction",
        trainingCost: float = 0.0,
    ) -> None:
        super().__init__()
        self._setDefault(featuresCol="features", predictionCol="prediction", trainingCost=0.0, centres=[])
        self._set(featuresCol=featuresCol, predictionCol=predictionCol, trainingCost=trainingCost)
        if centres is not None:
            self._set(centres=centres)

    def clusterCenters(self) -> Centres:
        return self.getOrDefault(self.centres)

    def cost(self) -> float:
        return self.getOrDefault(self.trainingCost)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        assigned = nearest_centre(F.col(self.getFeaturesCol()), self.clusterCenters())
        return dataset.withColumn(self.getPredictionCol(), assigned)


__all__ = ["NearestCentroidModel", "lloyd", "nearest_centre", "partition_means", "within_cost"]
