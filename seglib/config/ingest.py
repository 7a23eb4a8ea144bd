"""Config of the ingest stage (validation, quarantine, de-duplication, incremental bookmarks)."""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel


class IngestConfig(StrictModel):
    future_tolerance_minutes: int = Field(
        10, ge=0, description="Timestamps later than now+this are quarantined."
    )
