"""Keyed pseudonyms: HMAC-SHA256 built from Spark built-ins (Spark has sha2 but no hmac), truncated to 128 bits.

Derivation (docs/privacy.md has the data owner's recipe):
  1. normalise: cast to string, strip leading/trailing ASCII spaces, keep case; empty -> null (no identity);
  2. m = UTF-8 bytes of that string;
  3. HMAC-SHA256(K, m) = SHA256((K' xor opad) || SHA256((K' xor ipad) || m)), K' = K zero-padded to 64 bytes;
  4. pseudonym = first 16 bytes of the MAC as 32 lower-case hex characters.
Every identifier type (customer_id, anonymous_id, event_id, ...) uses the same derivation, so a consent keyed by a
customer_id or an anonymous_id resolves to the same subject_id the events carry.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglib.privacy.keys import KeyRing, PseudonymKey

PSEUDONYM_HEX_CHARS = 32  # 128 bits: birthday-collision odds ~ n^2 / 2^129 (1e-21 for a billion ids)


def normalised_id(col: Column) -> Column:
    """Identifier as compared across sources: trimmed of ASCII spaces, case kept, empty -> null."""
    trimmed = F.trim(col.cast("string"))
    return F.when(trimmed != F.lit(""), trimmed)


def hmac_sha256_hex(message: Column, key: PseudonymKey) -> Column:
    """Full 64-hex HMAC-SHA256 of a binary column, by the RFC 2104 definition with driver-side key pads."""
    inner = F.unhex(F.sha2(F.concat(F.lit(key.ipad), message), 256))
    return F.sha2(F.concat(F.lit(key.opad), inner), 256)


def pseudonym_with_key(col: Column, key: PseudonymKey) -> Column:
    """Pseudonym of an identifier under one specific key version (erasure and rekey use old versions)."""
    norm = normalised_id(col)
    mac = hmac_sha256_hex(F.encode(norm, "UTF-8"), key)
    return F.when(norm.isNotNull(), F.substring(mac, 1, PSEUDONYM_HEX_CHARS))


def pseudonym(col: Column, key_ring: KeyRing) -> Column:
    """Pseudonym of an identifier under the ring's active key (string; null in -> null out)."""
    return pseudonym_with_key(col, key_ring.active)


def pseudonym_py(value: str | None, key: PseudonymKey) -> str | None:
    """Reference implementation with Python's hmac, for tests, small driver-side requests and data owners."""
    if value is None:
        return None
    norm = str(value).strip(" ")
    if not norm:
        return None
    mac = hmac.new(key.secret, norm.encode("utf-8"), hashlib.sha256).hexdigest()
    return mac[:PSEUDONYM_HEX_CHARS]
