"""Config of the synthetic data generator (``seg generate``)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from seglib.config.base import StrictModel


class GeneratorConfig(StrictModel):
    customers: int = Field(2000, ge=1, description="Known (CRM) customers.")
    anonymous_share: float = Field(0.3, ge=0, le=1, description="Extra never-identified visitors, as a share.")
    days: int = Field(180, ge=1, description="Days of history ending the day before end_date.")
    end_date: date | None = Field(None, description="Default: the run's --as-of date.")
    events_per_customer: float = Field(60.0, gt=0, description="Mean events per subject over the whole period.")
    seed: int = 42
    bad_row_share: float = Field(0.01, ge=0, le=0.5, description="Share of rows made invalid on purpose.")
    partitions: int = Field(8, ge=1, description="Spark partitions of the generated event table.")
