from datetime import datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglib.config.ingest import RuleSpec
from seglib.ingest import dedup
from seglib.ingest.contract import RAW_COLUMN, MissingColumnError, as_read, conform_to_contract, type_rule_sql
from seglib.ingest.dedup import DEDUP_KEYS, dedup_events, latest_crm, latest_orders, with_net_amount
from seglib.ingest.metrics import TableCounts, batch_counts
from seglib.ingest.rules import REASONS, Rule, compile_rules, is_valid, with_rule_failures

T0 = datetime(2026, 1, 1, 10, 0, 0)
T1 = datetime(2026, 1, 1, 11, 0, 0)
T2 = datetime(2026, 1, 2, 9, 0, 0)

CONSENT_SCHEMA = "subject_id string, purpose string, granted boolean, updated_at timestamp"


def test_missing_required_column_names_table_and_column(spark):
    df = spark.createDataFrame([("s1", "analytics", True)], "subject_id string, purpose string, granted boolean")
    with pytest.raises(MissingColumnError, match=r"raw_consents.*'updated_at'") as info:
        conform_to_contract(df, "raw_consents")
    assert (info.value.table, info.value.column) == ("raw_consents", "updated_at")


def test_extra_column_passes_and_is_dropped_downstream(spark):
    df = spark.createDataFrame([("s1", "analytics", True, T0, "x")], f"{CONSENT_SCHEMA}, extra_col string")
    typed = conform_to_contract(df, "raw_consents")
    assert typed.columns == ["subject_id", "purpose", "granted", "updated_at"]  # no drifted column: no _raw
    assert typed.select("subject_id", "updated_at").first() == ("s1", T0)


def test_missing_optional_column_added_as_typed_null(spark):
    df = spark.createDataFrame(
        [("o1", "c1", T0, Decimal("5.00"), "completed")],
        "order_id string, customer_id string, order_ts timestamp, amount decimal(18,2), status string",
    )
    typed = conform_to_contract(df, "raw_orders")
    assert dict(typed.dtypes)["items"] == "int"
    assert typed.first()["items"] is None


def test_drifted_type_is_cast_and_uncastable_values_are_flagged(spark):
    df = spark.createDataFrame(
        [("s1", "analytics", True, "2026-01-01 10:00:00"), ("s2", "analytics", True, "yesterday")],
        "subject_id string, purpose string, granted boolean, updated_at string",
    )
    sql = type_rule_sql(df, "raw_consents")
    assert list(sql) == ["updated_at_type"]
    rules = [Rule(name, F.expr(text)) for name, text in sql.items()]
    flagged = with_rule_failures(conform_to_contract(df, "raw_consents"), rules)
    got = [(r["subject_id"], r["updated_at"], r[REASONS]) for r in flagged.orderBy("subject_id").collect()]
    assert got == [("s1", T0, []), ("s2", None, ["updated_at_type"])]


def test_dedup_events_keeps_earliest(spark):
    df = spark.createDataFrame(
        [("e1", T1, "late copy"), ("e1 ", T0, "first"), ("e2", T2, "only")],
        "event_id string, event_ts timestamp, p string",
    )
    got = sorted((r["p"]) for r in dedup_events(df).collect())
    assert got == ["first", "only"]


def test_keep_first_passes_single_keys_through_and_ranks_repeated_ones(spark, monkeypatch):
    schema = "event_id string, event_ts timestamp, p string"
    df = spark.createDataFrame(
        [
            ("e1", T1, "e1 late"),
            (" e1", T0, "e1 first"),
            ("e2", T2, "e2 only"),
            ("e3", T0, "e3 tie a"),
            ("e3", T0, "e3 tie b"),
            ("e3", T1, "e3 late"),
            (None, T0, "no id"),
        ],
        schema,
    )
    broadcast = dedup_events(df)
    monkeypatch.setattr(dedup, "BROADCAST_MAX_KEYS", 0)
    shuffled = dedup_events(df)
    # A tie in event_ts is broken by a hash of the row: the same pick whichever join finds the repeated keys.
    assert_df_equality(shuffled, broadcast, ignore_row_order=True)
    got = {r["event_id"]: r["p"] for r in broadcast.collect()}
    assert len(got) == broadcast.count() == 4
    assert {k: v for k, v in got.items() if k != "e3"} == {" e1": "e1 first", "e2": "e2 only", None: "no id"}
    assert got["e3"] in {"e3 tie a", "e3 tie b"}


def test_as_read_rebuilds_the_raw_row_from_drifted_raw_values_and_typed_columns(spark):
    df = spark.createDataFrame(
        [("s1", "analytics", True, "yesterday", "x")],
        "subject_id string, purpose string, granted boolean, updated_at string, extra string",
    )
    conformed = conform_to_contract(df, "raw_consents")
    # Only the drifted column is carried twice.
    assert conformed.schema[RAW_COLUMN].dataType.fieldNames() == ["updated_at"]
    got = conformed.select(*as_read(conformed, "raw_consents", df.columns))
    expected = spark.createDataFrame(
        [("s1", "analytics", True, "yesterday")],
        "subject_id string, purpose string, granted boolean, updated_at string",
    )
    assert_df_equality(got, expected)


def test_latest_crm_honours_updated_at_and_deletion(spark):
    df = spark.createDataFrame(
        [
            ("c1", "basic", T0, False),
            ("c1", "pro", T1, False),
            ("c2", "basic", T0, False),
            ("c2", "basic", T2, True),
        ],
        "customer_id string, plan string, updated_at timestamp, is_deleted boolean",
    )
    expected = spark.createDataFrame(
        [("c1", "pro", T1, False), ("c2", "basic", T2, True)],
        "customer_id string, plan string, updated_at timestamp, is_deleted boolean",
    )
    assert_df_equality(latest_crm(df), expected, ignore_row_order=True)


def test_latest_orders_and_net_amount(spark):
    schema = "order_id string, order_ts timestamp, amount decimal(18,2), status string"
    df = spark.createDataFrame(
        [
            ("o1", T0, Decimal("10.00"), "completed"),
            ("o2", T0, Decimal("20.00"), "completed"),
            ("o2", T1, Decimal("20.00"), "refunded"),
            ("o3", T0, Decimal("30.00"), "completed"),
            ("o3", T0, Decimal("30.00"), "cancelled"),
        ],
        schema,
    )
    expected = spark.createDataFrame(
        [
            ("o1", T0, Decimal("10.00"), "completed", Decimal("10.00")),
            ("o2", T1, Decimal("20.00"), "refunded", Decimal("0.00")),
            ("o3", T0, Decimal("30.00"), "cancelled", Decimal("0.00")),
        ],
        f"{schema}, net_amount decimal(18,2)",
    )
    got = latest_orders(df).transform(with_net_amount)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_batch_counts_invariant_with_quarantine_and_duplicates(spark):
    raw = spark.createDataFrame(
        [
            ("s1", "analytics", True, T0),
            ("s1", "analytics", False, T1),  # superseded decision -> duplicate
            ("s1", "marketing_email", True, T0),
            ("s2", "analytics", None, T0),  # quarantined
            (None, "analytics", True, T0),  # quarantined
        ],
        CONSENT_SCHEMA,
    )
    specs = [
        RuleSpec(name="subject_id_required", kind="required", column="subject_id"),
        RuleSpec(name="granted_required", kind="required", column="granted"),
    ]
    rules = compile_rules(specs, T2)
    flagged = with_rule_failures(conform_to_contract(raw, "raw_consents"), rules)
    repeated = dedup.repeated_keys(flagged.filter(is_valid()), DEDUP_KEYS["raw_consents"])
    counts = batch_counts(flagged, repeated, ["subject_id", "granted"], [r.name for r in rules])
    assert (counts.read, counts.accepted, counts.quarantined, counts.duplicates) == (5, 2, 2, 1)
    assert counts.balanced
    assert counts.completeness == {"subject_id": 0.8, "granted": 0.8}
    assert counts.rule_failures == {"subject_id_required": 1, "granted_required": 1}


def test_unbalanced_counts_raise():
    from seglib.ingest.contract import InvariantError

    with pytest.raises(InvariantError, match="raw_events: rows read 3"):
        TableCounts(read=3, accepted=1, quarantined=1, duplicates=0).check("raw_events")
