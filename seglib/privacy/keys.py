"""Pseudonymization key ring: where the HMAC keys come from (never code or config values) and how they rotate.

Sources, first found wins: the environment variable ``cfg.key_env``; the Databricks secret
``cfg.secret_scope``/``cfg.secret_key`` (dbutils, imported lazily); the local demo file ``cfg.key_file``.

The value is a *key ring*: either a single hex key (version ``v1``) or ``v2:<hex>,v1:<hex>``. The first entry
is the active key (new pseudonyms); the others are kept so erasure can find data written under them and the
rekey job can map old pseudonyms to new ones.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from seglib.errors import SeglibError

if TYPE_CHECKING:  # pragma: no cover
    from seglib.config.privacy import PrivacyConfig

BLOCK_SIZE = 64  # SHA-256 block size in bytes: HMAC pads the key to this length
MIN_KEY_BYTES = 16
_VERSION_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


class KeyNotFoundError(SeglibError):
    """No pseudonymization key is configured; the message says how to set one."""


class KeyFormatError(SeglibError, ValueError):
    """The key ring text cannot be parsed (the message never echoes key material)."""


@dataclass(frozen=True)
class PseudonymKey:
    """One versioned HMAC-SHA256 key with its inner/outer pads precomputed (RFC 2104)."""

    version: str
    secret: bytes = field(repr=False)

    @property
    def _block_key(self) -> bytes:
        key = hashlib.sha256(self.secret).digest() if len(self.secret) > BLOCK_SIZE else self.secret
        return key.ljust(BLOCK_SIZE, b"\x00")

    @property
    def ipad(self) -> bytes:
        return bytes(b ^ 0x36 for b in self._block_key)

    @property
    def opad(self) -> bytes:
        return bytes(b ^ 0x5C for b in self._block_key)


@dataclass(frozen=True)
class KeyRing:
    """Versioned keys, active first. ``repr`` shows versions only, never key material."""

    keys: tuple[PseudonymKey, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyFormatError("a key ring needs at least one key")
        versions = [k.version for k in self.keys]
        if len(set(versions)) != len(versions):
            raise KeyFormatError(f"duplicate key versions in key ring: {versions}")

    @property
    def active(self) -> PseudonymKey:
        return self.keys[0]

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(k.version for k in self.keys)

    def get(self, version: str) -> PseudonymKey:
        for key in self.keys:
            if key.version == version:
                return key
        raise KeyError(f"key version {version!r} not in key ring {self.versions}")

    def __repr__(self) -> str:
        return f"KeyRing(versions={self.versions}, source={self.source!r})"


def parse_key_ring(text: str, source: str = "") -> KeyRing:
    """Parse ``<hex>`` (one key, version v1) or ``v2:<hex>,v1:<hex>`` (first = active)."""
    entries = [e.strip() for e in text.strip().split(",") if e.strip()]
    if not entries:
        raise KeyFormatError(f"empty pseudonymization key ({source or 'no source'})")
    keys = []
    for position, entry in enumerate(entries, start=1):
        if ":" in entry:
            version, material = (p.strip() for p in entry.split(":", 1))
        elif len(entries) == 1:
            version, material = "v1", entry
        else:
            raise KeyFormatError(f"key ring entry #{position} has no version: use 'v2:<hex>,v1:<hex>' ({source})")
        if not _VERSION_RE.match(version):
            raise KeyFormatError(f"key ring entry #{position}: bad version label {version!r} ({source})")
        if not _HEX_RE.match(material) or len(material) % 2:
            raise KeyFormatError(f"key {version} is not an even-length hex string ({source})")
        if len(material) < 2 * MIN_KEY_BYTES:
            raise KeyFormatError(f"key {version} is shorter than {MIN_KEY_BYTES} bytes ({source})")
        keys.append(PseudonymKey(version=version, secret=bytes.fromhex(material)))
    return KeyRing(keys=tuple(keys), source=source)


def _databricks_secret(scope: str, key: str) -> str | None:
    """Read a secret via dbutils when running on Databricks; None anywhere else (never a required import)."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):  # not on Databricks: dbutils would try remote auth
        return None
    from databricks.sdk.runtime import dbutils  # type: ignore[import-not-found]

    try:
        return dbutils.secrets.get(scope=scope, key=key)
    except Exception as exc:  # dbutils raises its own (non-importable) types; re-raised as a clear error
        raise KeyNotFoundError(f"could not read Databricks secret {scope}/{key}: {type(exc).__name__}") from None


def load_key_ring(cfg: PrivacyConfig, env: Mapping[str, str] | None = None) -> KeyRing:
    """The key ring from env var, then Databricks secret scope, then local key file; a clear error if none."""
    environ = os.environ if env is None else env
    value = environ.get(cfg.key_env, "").strip()
    if value:
        return parse_key_ring(value, source=f"env:{cfg.key_env}")
    if cfg.secret_scope:
        secret = _databricks_secret(cfg.secret_scope, cfg.secret_key)
        if secret and secret.strip():
            return parse_key_ring(secret, source=f"secret:{cfg.secret_scope}/{cfg.secret_key}")
    if cfg.key_file:
        path = Path(cfg.key_file).expanduser()
        if path.is_file():
            return parse_key_ring(path.read_text(), source=f"file:{path}")
    raise KeyNotFoundError(
        "no pseudonymization key found. Set the environment variable "
        f"{cfg.key_env} to a hex key, e.g. `export {cfg.key_env}=$(python -c "
        "'import secrets; print(secrets.token_hex(32))')` (rotation: 'v2:<hex>,v1:<hex>', active first); "
        "or set privacy.secret_scope/privacy.secret_key on Databricks; "
        "or, for a local demo only, privacy.key_file (e.g. .seglib/pseudonym.key, created by `make demo`)"
        + (f" — the configured key file {cfg.key_file} does not exist." if cfg.key_file else ".")
    )
