"""Config of the synthetic data generator (``seg generate``)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, field_validator

from seglib.config.base import StrictModel


class GeneratorConfig(StrictModel):
    customers: int = Field(2000, ge=1, description="Known (CRM) customers.")
    anonymous_share: float = Field(0.3, ge=0, le=1, description="Extra never-identified visitors, as a share.")
    days: int = Field(180, ge=1, description="Days of history ending the day before end_date.")
    end_date: date | None = Field(
        None,
        description="Day after the last day of history (fixed for a reproducible world); default: the run's --as-of.",
    )
    events_per_customer: float = Field(60.0, gt=0, description="Mean events per subject over the whole period.")
    seed: int = 42
    bad_row_share: float = Field(0.01, ge=0, le=0.5, description="Share of rows made invalid on purpose.")
    partitions: int = Field(8, ge=1, description="Spark partitions of the generated event table.")
    segments: list[str] = Field(
        default_factory=lambda: list(PLANTED_SEGMENTS),
        description="Planted customer segments (names of seglib.generate.profiles.PROFILES), shares renormalised.",
    )

    @field_validator("segments")
    @classmethod
    def _known_segments(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(PLANTED_SEGMENTS))
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(f"generator.segments must be distinct names among {list(PLANTED_SEGMENTS)}: {value}")
        return value


# The customer segments of seglib.generate.profiles.PROFILES (anonymous visitors are planted apart); a test keeps the
# two lists equal, so the config stays importable without Spark.
PLANTED_SEGMENTS: tuple[str, ...] = (
    "high_value_loyal",
    "bargain_hunter",
    "lapsed",
    "new_curious",
    "b2b_power_user",
    "support_heavy",
)
