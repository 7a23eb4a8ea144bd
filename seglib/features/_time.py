"""Point-in-time helpers: the snapshot cut-off is ``as_of`` 00:00 UTC, whatever the session time zone is."""

from __future__ import annotations

import calendar
import re
from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

SECONDS_PER_DAY = 86_400


def cutoff_seconds(as_of: date) -> int:
    """Epoch seconds of ``as_of`` 00:00 UTC (no local-time-zone conversion)."""
    return calendar.timegm((as_of.year, as_of.month, as_of.day, 0, 0, 0))


def as_of_epoch_day(as_of: date) -> int:
    """Days since 1970-01-01 of ``as_of``."""
    return cutoff_seconds(as_of) // SECONDS_PER_DAY


def cutoff_ts(as_of: date, minus_seconds: int = 0) -> Column:
    """The cut-off instant (optionally earlier by ``minus_seconds``) as a timestamp literal."""
    return F.timestamp_seconds(F.lit(cutoff_seconds(as_of) - minus_seconds))


def before_cutoff(ts: Column, as_of: date) -> Column:
    """True for instants strictly before the snapshot cut-off (events exactly at the cut-off are excluded)."""
    return ts < cutoff_ts(as_of)


def in_last_days(ts: Column, as_of: date, days: int, skip_days: int = 0) -> Column:
    """True for instants in [cut-off - (days + skip_days), cut-off - skip_days)."""
    start = cutoff_ts(as_of, (days + skip_days) * SECONDS_PER_DAY)
    end = cutoff_ts(as_of, skip_days * SECONDS_PER_DAY)
    return (ts >= start) & (ts < end)


def utc_epoch_day(ts: Column) -> Column:
    """UTC calendar day of an instant as days since epoch (independent of the session time zone)."""
    return F.floor(F.unix_seconds(ts) / SECONDS_PER_DAY)


def date_epoch_day(d: Column) -> Column:
    """Days since epoch of a DATE column."""
    return F.datediff(d, F.lit(date(1970, 1, 1)))


def utc_hour(ts: Column) -> Column:
    """Hour of day (0-23) in UTC."""
    return F.floor(F.pmod(F.unix_seconds(ts), F.lit(SECONDS_PER_DAY)) / 3600)


def utc_weekday(ts: Column) -> Column:
    """Day of week in UTC, Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return F.pmod(utc_epoch_day(ts) + 3, F.lit(7))


def safe_div(num: Column, den: Column) -> Column:
    """num / den as double, null when the denominator is 0 or null."""
    return F.when(den != 0, num.cast("double") / den.cast("double"))


def clipped(value: Column, lower: float | None = None, upper: float | None = None) -> Column:
    """``value`` limited to [lower, upper], null when ``value`` is null.

    ``F.least``/``F.greatest`` skip nulls (``least(null, 1.0)`` is 1.0), so a bare cap turns "undefined" into the cap.
    """
    out = value
    if lower is not None:
        out = F.greatest(out, F.lit(lower))
    if upper is not None:
        out = F.least(out, F.lit(upper))
    return F.when(value.isNotNull(), out)


def column_suffix(value: str) -> str:
    """A category value as a safe lower-case column-name suffix ("Home & Garden" -> "home_garden")."""
    return re.sub(r"[^0-9a-z]+", "_", value.lower()).strip("_") or "unknown"
