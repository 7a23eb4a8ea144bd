"""Config of segment assembly and publication."""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel


class SegmentsConfig(StrictModel):
    min_segment_size: int = Field(1, ge=1, description="k-anonymity floor for published segments.")
