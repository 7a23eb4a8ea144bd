"""Fixed test keys (never used outside tests) and a two-version ring for rotation cases."""

from __future__ import annotations

import pytest

from seglib.privacy.keys import KeyRing, parse_key_ring

KEY_V1 = "11" * 32
KEY_V2 = "22" * 32


@pytest.fixture
def key_ring() -> KeyRing:
    return parse_key_ring(KEY_V1)


@pytest.fixture
def rotated_ring() -> KeyRing:
    return parse_key_ring(f"v2:{KEY_V2},v1:{KEY_V1}")
