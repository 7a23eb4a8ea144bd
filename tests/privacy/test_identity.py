from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglib.privacy.identity import apply_identity, build_identity_links
from seglib.privacy.pseudonymize import pseudonym

EVENTS_SCHEMA = "event_id string, event_ts timestamp, anonymous_id string, customer_id string"


def t(hour: int) -> datetime:
    return datetime(2024, 3, 1, hour)


def test_events_before_and_after_login_map_to_customer(spark, key_ring):
    events = spark.createDataFrame(
        [
            ("e1", t(1), "A1", None),  # before login
            ("e2", t(2), "A1", "C1"),  # login
            ("e3", t(3), "A1", None),  # after login, logged out
            ("e4", t(4), "A2", None),  # never linked
            ("e5", t(5), "A3", "C2"),  # shared device: first link wins
            ("e6", t(6), "A3", "C3"),
            ("e7", t(7), "A3", None),
            ("e8", t(8), "A4", "C3"),  # customer id present -> that customer, whatever the map says
        ],
        EVENTS_SCHEMA,
    )
    links = build_identity_links(events, key_ring)
    keyed = events.select(
        "event_id",
        pseudonym(F.col("anonymous_id"), key_ring).alias("anonymous_pseudonym"),
        pseudonym(F.col("customer_id"), key_ring).alias("customer_pseudonym"),
    )
    got = apply_identity(keyed, links).select("event_id", "subject_id")
    p = {
        v: r.p
        for v in ["A2", "C1", "C2", "C3"]
        for r in [spark.createDataFrame([(v,)], "v string").select(pseudonym(F.col("v"), key_ring).alias("p")).first()]
    }
    expected = spark.createDataFrame(
        [
            ("e1", p["C1"]),
            ("e2", p["C1"]),
            ("e3", p["C1"]),
            ("e4", p["A2"]),
            ("e5", p["C2"]),
            ("e6", p["C3"]),
            ("e7", p["C2"]),
            ("e8", p["C3"]),
        ],
        "event_id string, subject_id string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert links.count() == 3  # A1, A3, A4
    assert links.where(F.col("first_linked_ts") == t(5)).select("subject_id").first()[0] == p["C2"]
