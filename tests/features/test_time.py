from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from seglib.features._time import (
    before_cutoff,
    column_suffix,
    cutoff_seconds,
    in_last_days,
    utc_epoch_day,
    utc_hour,
    utc_weekday,
)

CUT = cutoff_seconds(date(2024, 3, 1))


def test_cutoff_seconds_is_utc_midnight():
    assert CUT == 1709251200


@pytest.mark.parametrize("tz", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
def test_helpers_ignore_session_time_zone(spark, tz):
    old = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", tz)
    try:
        ts = F.timestamp_seconds(F.col("s"))
        df = spark.createDataFrame([(CUT - 1,), (CUT,), (CUT - 86400 * 2 + 5 * 3600,)], "s long")
        got = df.select(
            before_cutoff(ts, date(2024, 3, 1)).alias("before"),
            in_last_days(ts, date(2024, 3, 1), 1).alias("last1"),
            utc_hour(ts).alias("hour"),
            utc_weekday(ts).alias("dow"),
            utc_epoch_day(ts).alias("day"),
        ).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", old)
    # 2024-02-29 23:59:59 (Thu), 2024-03-01 00:00:00 (Fri, excluded), 2024-02-28 05:00 (Wed)
    assert [tuple(r) for r in got] == [
        (True, True, 23, 3, 19782),
        (False, False, 0, 4, 19783),
        (True, False, 5, 2, 19781),
    ]


def test_column_suffix():
    assert column_suffix("Home & Garden") == "home_garden"
    assert column_suffix("***") == "unknown"
