from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import functions as F

from seglib.privacy.pseudonymize import pseudonym_py
from seglib.privacy.quarantine import PII_COLUMNS, pseudonymize_raw_row

SECRETS = ["CUST-77", "ANON-77", "SESS-77", "EVT-77", "TXT-77", "jane", "doe", "example.org", "5550199", "1987"]


def test_raw_crm_row_leaks_nothing(spark, key_ring):
    raw = spark.createDataFrame(
        [
            (
                "CUST-77",
                "jane@example.org",
                "+1 555 0199 1234",
                "Jane",
                "Doe",
                date(1987, 5, 4),
                "SW1A 1AA",
                "Doe Holdings",
                "DE",
                "not-a-number",
            )
        ],
        "customer_id string, email string, phone string, first_name string, last_name string, birth_date date, "
        "postal_code string, company_name string, country string, company_size string",
    )
    out = pseudonymize_raw_row(raw, "raw_crm_customers", key_ring)
    assert not set(PII_COLUMNS) & set(out.columns)
    row = out.first()
    assert row.customer_id == pseudonym_py("CUST-77", key_ring.active)
    assert (row.country, row.company_size) == ("DE", "not-a-number")


def test_raw_event_and_text_rows_leak_nothing(spark, key_ring):
    events = spark.createDataFrame(
        [
            (
                "EVT-77",
                datetime(2024, 1, 1),
                "ANON-77",
                "CUST-77",
                "SESS-77",
                "search",
                {"query": "jane@example.org", "email": "x", "page": "/home"},
            )
        ],
        "event_id string, event_ts timestamp, anonymous_id string, customer_id string, session_id string, "
        "event_type string, properties map<string,string>",
    )
    texts = spark.createDataFrame(
        [("TXT-77", "CUST-77", "ANON-77", "review", "I am Jane Doe, call 555 019 9123 or jane@example.org")],
        "text_id string, customer_id string, anonymous_id string, source string, text string",
    )
    out_events = pseudonymize_raw_row(events, "raw_events", key_ring)
    out_texts = pseudonymize_raw_row(texts, "raw_texts", key_ring)
    assert out_events.first().properties == {"query": "[email]", "page": "/home"}
    assert out_texts.first().text == "I am Jane Doe, call [phone] or [email]"
    assert out_events.first().event_id == pseudonym_py("EVT-77", key_ring.active)
    # Names in free text cannot be detected by regex; everything else must be gone from every value.
    for df in (out_events, out_texts.drop("text")):
        blob = df.select(F.to_json(F.struct("*")).alias("j")).first().j.lower()
        for secret in SECRETS:
            assert secret.lower() not in blob, secret
