"""Config of the feature stage."""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel


class FeaturesConfig(StrictModel):
    lookback_days: int = Field(365, ge=1)
