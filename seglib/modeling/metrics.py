"""Agreement between two labelings (adjusted Rand index, normalised mutual information) from Spark counts.

The contingency table is aggregated in Spark (one ``groupBy``); only its k x g cells reach the driver.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from pyspark.sql import DataFrame


def contingency_counts(df: DataFrame, col_a: str, col_b: str) -> dict[tuple[object, object], int]:
    """(label a, label b) -> number of rows, for rows where both labels are present (k x g cells, small)."""
    rows = df.where(df[col_a].isNotNull() & df[col_b].isNotNull()).groupBy(col_a, col_b).count().collect()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def _pairs(n: int) -> float:
    return n * (n - 1) / 2.0


def _margins(counts: dict[tuple[object, object], int]) -> tuple[dict[object, int], dict[object, int], int]:
    rows: dict[object, int] = {}
    cols: dict[object, int] = {}
    for (a, b), n in counts.items():
        rows[a] = rows.get(a, 0) + n
        cols[b] = cols.get(b, 0) + n
    return rows, cols, sum(counts.values())


def ari_from_counts(counts: dict[tuple[object, object], int]) -> float:
    """Adjusted Rand index (Hubert & Arabie) of a contingency table; 1.0 for identical partitions."""
    rows, cols, n = _margins(counts)
    if n < 2:
        return 1.0
    index = sum(_pairs(v) for v in counts.values())
    sum_rows = sum(_pairs(v) for v in rows.values())
    sum_cols = sum(_pairs(v) for v in cols.values())
    expected = sum_rows * sum_cols / _pairs(n)
    maximum = (sum_rows + sum_cols) / 2.0
    if maximum == expected:  # both partitions trivial (one cluster each, or all singletons)
        return 1.0
    return (index - expected) / (maximum - expected)


def nmi_from_counts(counts: dict[tuple[object, object], int]) -> float:
    """Normalised mutual information (arithmetic-mean normalisation, as scikit-learn's default)."""
    rows, cols, n = _margins(counts)
    if n == 0:
        return 1.0

    def entropy(values: Iterable[int]) -> float:
        return -sum(v / n * math.log(v / n) for v in values if v)

    mutual = sum(v / n * math.log(v * n / (rows[a] * cols[b])) for (a, b), v in counts.items() if v)
    h_a, h_b = entropy(rows.values()), entropy(cols.values())
    if h_a == 0 and h_b == 0:
        return 1.0
    return mutual / ((h_a + h_b) / 2.0) if (h_a + h_b) else 0.0


def adjusted_rand_index(df: DataFrame, col_a: str, col_b: str) -> float:
    """ARI between two label columns of ``df``."""
    return ari_from_counts(contingency_counts(df, col_a, col_b))


def normalized_mutual_info(df: DataFrame, col_a: str, col_b: str) -> float:
    """NMI between two label columns of ``df``."""
    return nmi_from_counts(contingency_counts(df, col_a, col_b))
