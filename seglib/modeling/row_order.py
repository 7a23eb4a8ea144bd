"""One canonical row order for every model fit: fixed by the rows' values, never by the pseudonyms.

Spark's k-means|| initialisation, the Imputer's approximate quantiles, the cross-validation folds, the GBT's and the
random forest's row sampling and every seeded sample depend on which partition a row is in and where. Upstream that
is the order of subject ids, i.e. of pseudonyms: another pseudonymization key (another machine's, a key rotation)
then fitted other models on the same data (the upgrade GBT's holdout ROC-AUC moved between 0.700 and 0.748 across
keys). Same data + config -> same models, whatever the key: every fit reads its rows through :func:`canonical_order`,
keyed on :func:`value_columns` (everything but the pseudonym).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType

PSEUDONYM_COLUMNS = ("subject_id",)


def value_columns(df: DataFrame, exclude: Sequence[str] = PSEUDONYM_COLUMNS) -> list[str]:
    """The columns of ``df`` that hold values a model reads: all but the pseudonyms."""
    return [c for c in df.columns if c not in exclude]


def canonical_order(data: DataFrame, key: Sequence[str], partitions: int | None = None) -> DataFrame:
    """The rows in partitions and an order fixed by the values of the ``key`` columns alone.

    Hash partitioning on a hash of the key (doubles rounded to single precision: :func:`_rounded`) into
    ``partitions`` (by default ``spark.sql.shuffle.partitions``: a number AQE does not change) and a sort within each
    partition by that hash, then the key itself (a collision), make both independent of the input's order; rows that
    still tie have equal keys, interchangeable to anything fitted on the key. ``key`` must not hold a pseudonym (see
    :func:`value_columns`).
    """
    if not key:
        raise ValueError("canonical_order needs at least one key column")
    leaked = sorted(set(key) & set(PSEUDONYM_COLUMNS))
    if leaked:
        raise ValueError(f"canonical_order keyed on pseudonyms {leaked}: the order would move with the key")
    # conf.get is typed str | None (hence the ignore), but a SQL conf with a default (200) always has a value.
    n = partitions or int(data.sparkSession.conf.get("spark.sql.shuffle.partitions"))  # type: ignore[arg-type]
    return (
        data.withColumn("_canonical_hash", F.xxhash64(*[_rounded(data, c) for c in key]))
        .repartition(n, "_canonical_hash")
        .sortWithinPartitions("_canonical_hash", *key)
        .drop("_canonical_hash")
    )


def _rounded(data: DataFrame, column: str) -> F.Column:
    """The column as hashed: doubles (and arrays of them) rounded to single precision. A double computed by a sum
    can differ in its last bits with the order its terms arrived in (a scaler's standard deviation, an average), and
    one differing bit would move a row anywhere; rounded, nearly all such rows keep their hash and so their place."""
    kind = data.schema[column].dataType
    if isinstance(kind, DoubleType):
        return F.col(column).cast("float")
    if isinstance(kind, ArrayType) and isinstance(kind.elementType, DoubleType):
        return F.col(column).cast("array<float>")
    return F.col(column)


def in_sample(fraction: float, key: Sequence[str], buckets: int = 10_000) -> F.Column:
    """True for a ``fraction`` of the rows chosen by a hash of the ``key`` values (a holdout that is the same in every
    run and under every pseudonymization key; rows with equal values fall on the same side)."""
    return F.pmod(F.xxhash64(*key), F.lit(buckets)) < F.lit(round(fraction * buckets))


__all__ = ["PSEUDONYM_COLUMNS", "canonical_order", "in_sample", "value_columns"]
