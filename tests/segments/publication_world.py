"""Two tiny snapshots of segment membership, published by seglib.segments.history, for the segment-table tests.

Run as a module (``python -m tests.segments.publication_world WAREHOUSE``) it publishes snapshot 2 and is killed
(SIGKILL, no clean-up of any kind) between the history MERGE and the membership MERGE: the kill test's victim.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession

from seglib.segments.assign import Lineage
from seglib.segments.history import DEFINITIONS, PROFILES, publish_segments
from seglib.tables import Warehouse, table

DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 8)
# (subject, family, segment_id): a moves from loyal to at_risk, b leaves the snapshot, c is new, d stays; tags change.
SNAPSHOTS = {
    DAY1: [
        ("a", "playbook", "loyal"),
        ("b", "playbook", "loyal"),
        ("d", "playbook", "other"),
        ("a", "tags", "cart_abandoner"),
        ("d", "tags", "cart_abandoner"),
    ],
    DAY2: [
        ("a", "playbook", "at_risk"),
        ("c", "playbook", "loyal"),
        ("d", "playbook", "other"),
        ("d", "tags", "cart_abandoner"),
        ("d", "tags", "ready_to_buy"),
    ],
}
EXCLUSIVE = ["playbook"]


def lineage(run: str) -> Lineage:
    return Lineage(run, "cfg0", {"features/subject_features": 3}, {"seglib_clustering": "1"})


def membership(spark: SparkSession, day: date, run: str, rows=None, small: frozenset = frozenset()) -> DataFrame:
    """segment_membership rows of one snapshot in the declared schema; segments in ``small`` below the minimum size."""
    values = [
        (
            s,
            day,
            f,
            "rule" if f == "playbook" else "tag",
            sid,
            sid.replace("_", " ").title(),
            "rule",
            None,
            None,
            sid not in small,
        )
        for s, f, sid in (rows if rows is not None else SNAPSHOTS[day])
    ]
    schema = (
        "subject_id string, snapshot_date date, segment_family string, segment_type string, segment_id string, "
        "segment_name string, assignment_source string, confidence double, score double, meets_min_size boolean"
    )
    from pyspark.sql import functions as F

    df = spark.createDataFrame(values, schema).withColumns(
        {**lineage(run).columns(), "assigned_at": F.lit(datetime(2026, 11, 8, 6)).cast("timestamp")}
    )
    return df.select(*[c.name for c in table("segments", "segment_membership").columns])


def publish(spark: SparkSession, tables: Warehouse, day: date, run: str, rows=None, small=frozenset()):
    empty = {d: spark.createDataFrame([], d.schema) for d in (DEFINITIONS, PROFILES)}
    return publish_segments(
        spark,
        tables,
        day,
        membership(spark, day, run, rows, small),
        empty[DEFINITIONS],
        empty[PROFILES],
        EXCLUSIVE,
        lineage(run),
        datetime(2026, 11, 8, 6, 30),
    )


def _killed_half_way(warehouse: str) -> None:  # pragma: no cover - runs in the kill test's child process
    from seglib.config import SparkSettings
    from seglib.segments import history
    from seglib.session import build_spark

    settings = SparkSettings(home="local", master="local[1]", shuffle_partitions=1, driver_memory="1g")
    spark = build_spark(settings, app_name="seglib-kill-test", warehouse_dir=warehouse + "/_spark")

    def die(*_args, **_kwargs):
        print("history merged; killing the run before the membership MERGE", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    history._merge_membership = die
    publish(spark, Warehouse(warehouse), DAY2, "killed")


if __name__ == "__main__":  # pragma: no cover
    _killed_half_way(sys.argv[1])
