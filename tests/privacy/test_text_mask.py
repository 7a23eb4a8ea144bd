from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from seglib.privacy.text import mask_pii

CASES = [
    ("mail me at Jane.Doe+shop@mail.example.co.uk please", "mail me at [email] please"),
    ("call +44 20 7946 0958 or (555) 123-4567.", "call [phone] or [phone]."),
    ("phone: 0151-23456789", "phone: [phone]"),
    ("card 4111 1111 1111 1111 charged", "card [phone] charged"),
    ("ordered 3 items on 2024-01-15 for 129.99", "ordered 3 items on 2024-01-15 for 129.99"),
    ("order #12345 is late", "order #12345 is late"),
    ("no pii here", "no pii here"),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mask_pii(spark, text, expected):
    df = spark.createDataFrame([(text,)], "text string")
    assert df.select(mask_pii(F.col("text")).alias("m")).first().m == expected
