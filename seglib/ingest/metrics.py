"""Row accounting and data-quality metrics of one ingest batch, from a single aggregation pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.delta_io import write_table
from seglib.frames import first_row
from seglib.ingest.contract import InvariantError
from seglib.ingest.rules import REASONS, as_utc_instant, is_valid
from seglib.tables import Warehouse, table

DQ_METRICS = table("ops", "dq_metrics")


@dataclass
class TableCounts:
    """Rows of one raw table in one run: read = accepted + quarantined + duplicates, exactly.

    ``duplicates`` are valid rows collapsed by de-duplication: exact re-deliveries of an event/text id,
    and superseded versions (older CRM versions, earlier order states, older consent decisions).
    """

    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    completeness: dict[str, float] = field(default_factory=dict)
    rule_failures: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.read == self.accepted + self.quarantined + self.duplicates

    def check(self, table: str) -> TableCounts:
        if not self.balanced:
            raise InvariantError(
                f"{table}: rows read {self.read} != accepted {self.accepted} + quarantined {self.quarantined} "
                f"+ duplicates {self.duplicates}"
            )
        return self


def batch_counts(
    flagged: DataFrame, repeated: DataFrame, columns: Sequence[str], rule_names: Sequence[str]
) -> TableCounts:
    """All counts of a flagged batch in one aggregation; ``repeated``: the valid rows' repeated keys with their row
    counts (:func:`seglib.ingest.dedup.repeated_keys`), so duplicates = the extra rows of those keys and accepted =
    valid - duplicates (one row per key), without a distinct count over every key."""
    valid = is_valid()
    exprs = [
        F.count(F.lit(1)).alias("read"),
        F.count(F.when(~valid, 1)).alias("quarantined"),
        F.count(F.when(valid, 1)).alias("valid"),
    ]
    exprs += [F.count(F.col(f"`{c}`")).alias(f"nn_{i}") for i, c in enumerate(columns)]
    exprs += [F.count(F.when(F.array_contains(REASONS, r), 1)).alias(f"rf_{i}") for i, r in enumerate(rule_names)]
    row = first_row(flagged.agg(*exprs))
    duplicates = int(first_row(repeated.agg(F.sum(F.col("count") - 1)))[0] or 0)
    read = int(row["read"])
    return TableCounts(
        read=read,
        accepted=int(row["valid"]) - duplicates,
        quarantined=int(row["quarantined"]),
        duplicates=duplicates,
        completeness={c: (row[f"nn_{i}"] / read if read else 1.0) for i, c in enumerate(columns)},
        rule_failures={r: int(row[f"rf_{i}"]) for i, r in enumerate(rule_names)},
    )


def metric_rows(table: str, counts: TableCounts) -> list[tuple[str, str, str | None, float]]:
    """(table, metric, column, value) rows of one table's counts."""
    read = counts.read
    valid = counts.accepted + counts.duplicates
    rows: list[tuple[str, str, str | None, float]] = [
        (table, "rows_read", None, float(read)),
        (table, "rows_accepted", None, float(counts.accepted)),
        (table, "rows_quarantined", None, float(counts.quarantined)),
        (table, "duplicates", None, float(counts.duplicates)),
        (table, "quarantine_rate", None, counts.quarantined / read if read else 0.0),
        (table, "duplicate_rate", None, counts.duplicates / valid if valid else 0.0),
    ]
    rows += [(table, "completeness", c, float(v)) for c, v in counts.completeness.items()]
    rows += [(table, "rule_failures", r, float(v)) for r, v in counts.rule_failures.items()]
    return rows


def freshness_seconds(events: DataFrame, now: datetime) -> float | None:
    """Age of the newest event relative to ``now`` (None when there are no events)."""
    newest = first_row(events.agg(F.max("event_ts").alias("newest")))["newest"]
    if newest is None:
        return None
    return (as_utc_instant(now) - as_utc_instant(newest)).total_seconds()


def metrics_dict(rows: Sequence[tuple[str, str, str | None, float]]) -> dict[str, float]:
    """Flat ``table.metric[.column]`` -> value, ready for ``mlflow.log_metrics``."""
    return {".".join(p for p in (t, m, c) if p): v for t, m, c, v in rows}


def write_dq_metrics(
    spark: SparkSession,
    tables: Warehouse,
    rows: Sequence[tuple[str, str, str | None, float]],
    run_id: str,
    now: datetime,
) -> DataFrame:
    """Replace this run's metrics in the ops table (idempotent per run id) and return them."""
    measured = as_utc_instant(now)
    data = [(run_id, t, m, c, float(v), measured) for t, m, c, v in rows]
    df = spark.createDataFrame(data, DQ_METRICS.schema)
    spec = tables.spec(DQ_METRICS)
    write_table(df, spec, mode="overwrite", replace_where=f"run_id = '{run_id}'")
    return df
