"""Config of privacy: pseudonymization keys, consent, erasure and retention.

Key material is never a config value: config only says *where* to find it (env var, secret scope, local file).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seglib.config.base import StrictModel


class PrivacyConfig(StrictModel):
    key_env: str = Field(
        "SEGLIB_PSEUDONYM_KEY",
        description="Environment variable holding the HMAC key ring: '<hex>' or 'v2:<hex>,v1:<hex>' (first = active).",
    )
    secret_scope: str | None = Field(
        None, description="Databricks secret scope holding the key ring (read via dbutils when present)."
    )
    secret_key: str = Field("pseudonym-key", description="Key name inside secret_scope.")
    key_file: str | None = Field(
        None, description="Local-only fallback: a key file outside git (the demo creates .seglib/pseudonym.key)."
    )
    required_consent: Literal["analytics", "personalization", "marketing_email"] = Field(
        "analytics",
        description="Consent purpose (a column of silver consents) a subject must currently grant to get a feature "
        "row.",
    )
    vacuum_retention_hours: float = Field(
        168, ge=0, description="VACUUM retention: erased rows stay in old Delta versions until this has passed."
    )
    vacuum_allow_short_retention: bool = Field(
        False,
        description="Allow a retention under Delta's 7-day safety check (for that vacuum only): readers or writers "
        "still using older versions may fail.",
    )
    erasure_excluded_layers: list[str] = Field(
        default_factory=lambda: ["raw"],
        description="Warehouse layers `forget`/`vacuum` never touch (raw inputs belong to their source systems).",
    )
