from __future__ import annotations

import pytest

from seglib.config.privacy import PrivacyConfig
from seglib.privacy.keys import KeyFormatError, KeyNotFoundError, load_key_ring, parse_key_ring

KEY_V1 = "11" * 32
KEY_V2 = "22" * 32


def test_single_hex_key_is_version_v1():
    ring = parse_key_ring(f"  {KEY_V1}\n")
    assert ring.versions == ("v1",)
    assert ring.active.secret == bytes.fromhex(KEY_V1)


def test_rotation_ring_first_entry_is_active():
    ring = parse_key_ring(f"v2:{KEY_V2}, v1:{KEY_V1}")
    assert ring.versions == ("v2", "v1")
    assert ring.active.secret == bytes.fromhex(KEY_V2)
    assert ring.get("v1").secret == bytes.fromhex(KEY_V1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-hex-at-all-not-hex-at-all-not-hex-at-all",
        "abcd",  # too short
        f"v2:{KEY_V2},{KEY_V1}",  # second entry without version
        f"v1:{KEY_V2},v1:{KEY_V1}",  # duplicate version
        f"bad version:{KEY_V1}",
    ],
)
def test_bad_key_rings_are_rejected_without_echoing_material(text):
    with pytest.raises(KeyFormatError) as err:
        parse_key_ring(text, source="test")
    assert KEY_V1 not in str(err.value) and KEY_V2 not in str(err.value)


def test_repr_never_shows_key_material():
    ring = parse_key_ring(f"v2:{KEY_V2},v1:{KEY_V1}")
    assert KEY_V1 not in repr(ring) and "22222222" not in repr(ring.active)


def test_env_var_wins_over_file(tmp_path):
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(KEY_V2)
    cfg = PrivacyConfig(key_env="MY_KEY", key_file=str(key_file))
    ring = load_key_ring(cfg, env={"MY_KEY": KEY_V1})
    assert ring.active.secret == bytes.fromhex(KEY_V1)
    assert ring.source == "env:MY_KEY"


def test_key_file_fallback(tmp_path):
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text(KEY_V2 + "\n")
    ring = load_key_ring(PrivacyConfig(key_file=str(key_file)), env={})
    assert ring.active.secret == bytes.fromhex(KEY_V2)


def test_missing_key_error_says_how_to_set_one(tmp_path):
    cfg = PrivacyConfig(key_env="SEGLIB_TEST_KEY", key_file=str(tmp_path / "absent.key"))
    with pytest.raises(KeyNotFoundError, match="SEGLIB_TEST_KEY") as err:
        load_key_ring(cfg, env={})
    assert "token_hex" in str(err.value) and "absent.key" in str(err.value)


def test_secret_scope_is_optional_locally():
    # No dbutils outside Databricks: the scope is skipped and the missing-key error names it.
    with pytest.raises(KeyNotFoundError, match="secret_scope"):
        load_key_ring(PrivacyConfig(secret_scope="seglib"), env={})
