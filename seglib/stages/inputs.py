"""What the stages read: every silver table, and one snapshot of the feature table."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import read_table, table_exists
from seglib.errors import MissingInputError
from seglib.tables import Warehouse, tables_in


def read_silver(spark: SparkSession, cfg: SeglibConfig) -> dict[str, DataFrame]:
    """Every silver table; one that was never written reads as empty with its declared schema."""
    wh = Warehouse.of(cfg)
    out = {}
    for t in tables_in("silver"):
        location = wh.location(t)
        out[t.name] = (
            read_table(spark, location) if table_exists(spark, location) else spark.createDataFrame([], t.schema)
        )
    return out


def read_features(spark: SparkSession, cfg: SeglibConfig, as_of: date) -> DataFrame:
    location = Warehouse.of(cfg).location("features/subject_features")
    if not table_exists(spark, location):
        raise MissingInputError(f"no feature table at {location}: run `seg features` (or `seg run`) first")
    snapshot = read_table(spark, location).where(F.col("snapshot_date") == F.lit(as_of))
    if snapshot.isEmpty():
        raise MissingInputError(f"no features for snapshot {as_of} in {location}: run `seg features --as-of {as_of}` "
                                "(or `seg run`) for it first")  # fmt: skip
    return snapshot
