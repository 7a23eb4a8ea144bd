"""Config of privacy: pseudonymization keys, consent, erasure and retention."""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel


class PrivacyConfig(StrictModel):
    key_env: str = Field("SEGLIB_PSEUDONYM_KEY", description="Environment variable holding the HMAC key.")
    key_file: str | None = Field(
        None,
        description="Local-only fallback: a key file outside git (the demo creates .seglib/pseudonym.key).",
    )
    required_consent: str = "analytics"
