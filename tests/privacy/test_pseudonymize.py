from __future__ import annotations

import hashlib
import hmac

import pytest
from pyspark.sql import functions as F

from seglib.privacy.keys import parse_key_ring
from seglib.privacy.pseudonymize import pseudonym, pseudonym_py, pseudonym_with_key

INPUTS = ["C000123", "  C000123 ", "anon-7f3e", "é", "日本語のID", "emoji-🎉", "a" * 300, "MiXeD"]


def _python_hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.strip(" ").encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("key_hex", ["11" * 32, "0f" * 16, "ab" * 100])  # 32, 16 and >64-byte (hashed) keys
def test_spark_hmac_equals_python_hmac(spark, key_hex):
    ring = parse_key_ring(key_hex)
    df = spark.createDataFrame([(v,) for v in INPUTS], "id string")
    got = dict(df.select("id", pseudonym(F.col("id"), ring).alias("p")).collect())
    expected = {v: _python_hmac(bytes.fromhex(key_hex), v) for v in INPUTS}
    assert got == expected


def test_nulls_and_blanks_give_null(spark, key_ring):
    df = spark.createDataFrame([(None,), ("",), ("   ",)], "id string")
    assert [r.p for r in df.select(pseudonym(F.col("id"), key_ring).alias("p")).collect()] == [None] * 3


def test_normalisation_trims_spaces_but_keeps_case(spark, key_ring):
    df = spark.createDataFrame([(" C1",), ("C1 ",), ("c1",)], "id string")
    p = [r.p for r in df.select(pseudonym(F.col("id"), key_ring).alias("p")).collect()]
    assert p[0] == p[1] != p[2]
    assert len(p[0]) == 32 and p[0] == p[0].lower()


def test_key_versions_give_different_pseudonyms(spark, rotated_ring):
    df = spark.createDataFrame([("C1",)], "id string")
    row = df.select(*[pseudonym_with_key(F.col("id"), k).alias(k.version) for k in rotated_ring.keys]).first()
    assert row["v2"] != row["v1"]
    assert row["v2"] == pseudonym_py("C1", rotated_ring.active)
    assert row["v1"] == pseudonym_py("C1", rotated_ring.get("v1"))


def test_non_string_ids_are_cast(spark, key_ring):
    df = spark.createDataFrame([(42,)], "id long")
    assert df.select(pseudonym(F.col("id"), key_ring).alias("p")).first().p == pseudonym_py("42", key_ring.active)
