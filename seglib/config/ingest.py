"""Config of the ingest stage (validation, de-duplication, identity) and of privacy (pseudonymization, consent)."""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel


class IngestConfig(StrictModel):
    future_tolerance_minutes: int = Field(10, ge=0, description="Timestamps later than now+this are quarantined.")


class PrivacyConfig(StrictModel):
    key_env: str = Field("SEGLIB_PSEUDONYM_KEY", description="Environment variable holding the HMAC key.")
    key_file: str | None = Field(
        None, description="Local-only fallback: a key file outside git (the demo creates .seglib/pseudonym.key)."
    )
    required_consent: str = "analytics"
