"""The generated history window and its seasonality (weekly per segment, a yearly holiday bump)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglib.generate.profiles import PROFILES, by_segment

HOLIDAY_PEAK_DOY = 335  # ~1 December
HOLIDAY_SD_DAYS = 18.0
HOLIDAY_LIFT = 0.6
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class History:
    """``days`` whole UTC days ending the day before ``end``; ``as_of`` is the run date (future starts there)."""

    days: int
    end: date
    as_of: date

    @property
    def first_day(self) -> date:
        return self.end - timedelta(days=self.days)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def start_epoch(self) -> int:
        return int(datetime.combine(self.first_day, datetime.min.time(), tzinfo=UTC).timestamp())

    @property
    def as_of_epoch(self) -> int:
        return int(datetime.combine(self.as_of, datetime.min.time(), tzinfo=UTC).timestamp())

    def ts(self, seconds_from_start: Column) -> Column:
        """Timestamp of an offset in seconds from the first day's midnight (UTC)."""
        return F.timestamp_seconds(F.lit(self.start_epoch) + seconds_from_start.cast("long"))

    def day(self, offset: Column) -> Column:
        """Date of a day offset from the first day."""
        return F.date_add(F.lit(self.first_day), offset.cast("int"))

    def acceptance(self, weekday: tuple[float, ...]) -> float:
        """Mean keep-probability of :func:`season_factor` thinning for one weekly profile over this window."""
        total = 0.0
        for i in range(self.days):
            d = self.first_day + timedelta(days=i)
            total += weekday[d.weekday()] * _holiday(d.timetuple().tm_yday)
        return total / (self.days * max(weekday) * (1 + HOLIDAY_LIFT))


def _holiday(doy: int) -> float:
    dist = min(abs(doy - HOLIDAY_PEAK_DOY), 365 - abs(doy - HOLIDAY_PEAK_DOY))
    return 1 + HOLIDAY_LIFT * math.exp(-(dist**2) / (2 * HOLIDAY_SD_DAYS**2))


def season_factor(code: Column, day: Column) -> Column:
    """Keep-probability in (0, 1] for a session on ``day``: the segment's weekday shape times the holiday bump."""
    weekday = F.pmod(F.dayofweek(day) + 5, 7)  # Monday = 0
    shape = F.element_at(by_segment(code, lambda p: [w / max(p.weekday) for w in p.weekday]), weekday + 1)
    gap = F.abs(F.dayofyear(day) - HOLIDAY_PEAK_DOY)
    dist = F.least(gap, F.lit(365) - gap).cast("double")
    bump = F.lit(1.0) + F.lit(HOLIDAY_LIFT) * F.exp(-(dist * dist) / F.lit(2 * HOLIDAY_SD_DAYS**2))
    return shape * bump / F.lit(1 + HOLIDAY_LIFT)


def mean_acceptance(history: History) -> list[float]:
    """Per-segment mean keep-probability, to oversample sessions so the thinned count hits the target."""
    return [history.acceptance(tuple(p.weekday)) for p in PROFILES]
