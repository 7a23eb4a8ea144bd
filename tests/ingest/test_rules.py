from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pydantic import ValidationError

from seglib.config import load_config
from seglib.config.ingest import IngestConfig, RuleSpec
from seglib.ingest.rules import REASONS, compile_rules, currency_rule, is_valid, with_rule_failures
from seglib.ingest.run import flag_rows

NOW = datetime(2026, 3, 1, 12, 0, 0)
CONF = Path(__file__).resolve().parents[2] / "conf" / "ingest.yaml"


def reasons(spark, rows, schema, specs, now=NOW, tolerance=0):
    df = spark.createDataFrame(rows, schema)
    flagged = with_rule_failures(df, compile_rules(specs, now, tolerance))
    return [r[REASONS] for r in flagged.orderBy("id").collect()]


def rule(**kw):
    return RuleSpec(**kw)


def test_required_rejects_null_and_blank(spark):
    got = reasons(
        spark,
        [(1, "a"), (2, None), (3, "  ")],
        "id int, v string",
        [rule(name="v_required", kind="required", column="v")],
    )
    assert got == [[], ["v_required"], ["v_required"]]


def test_castable_lets_null_pass(spark):
    got = reasons(
        spark,
        [(1, "2026-01-01 10:00:00"), (2, "not a time"), (3, None)],
        "id int, v string",
        [rule(name="v_ts", kind="castable", column="v", type="timestamp")],
    )
    assert got == [[], ["v_ts"], []]


def test_allowed_values(spark):
    got = reasons(
        spark,
        [(1, "web"), (2, "fax"), (3, None)],
        "id int, v string",
        [rule(name="channel_allowed", kind="allowed", column="v", values=["web", "app"])],
    )
    assert got == [[], ["channel_allowed"], []]


def test_range_on_decimal_and_int(spark):
    got = reasons(
        spark,
        [(1, Decimal("0.00"), 0), (2, Decimal("-0.01"), 3), (3, Decimal("5.00"), -1)],
        "id int, amount decimal(18,2), items int",
        [
            rule(name="amount_non_negative", kind="range", column="amount", min=0),
            rule(name="items_range", kind="range", column="items", min=0, max=2),
        ],
    )
    assert got == [[], ["amount_non_negative", "items_range"], ["items_range"]]


def test_currency_pattern_and_allow_list(spark):
    specs = [
        rule(name="currency_iso4217", kind="pattern", column="c", pattern="^[A-Z]{3}$"),
        rule(name="currency_allowed", kind="allowed", column="c", values=["EUR", "USD"]),
    ]
    got = reasons(spark, [(1, "EUR"), (2, "eur"), (3, "XYZ"), (4, "EURO")], "id int, c string", specs)
    assert got == [
        [],
        ["currency_iso4217", "currency_allowed"],
        ["currency_allowed"],
        ["currency_iso4217", "currency_allowed"],
    ]


def test_not_future_uses_now_and_tolerance(spark):
    rows = [
        (1, datetime(2026, 3, 1, 12, 0, 0)),
        (2, datetime(2026, 3, 1, 12, 9, 59)),
        (3, datetime(2026, 3, 1, 12, 10, 1)),
        (4, None),
    ]
    specs = [rule(name="ts_not_future", kind="not_future", column="ts")]
    assert reasons(spark, rows, "id int, ts timestamp", specs, tolerance=10) == [[], [], ["ts_not_future"], []]
    assert reasons(spark, rows, "id int, ts timestamp", specs, tolerance=0) == [
        [],
        ["ts_not_future"],
        ["ts_not_future"],
        [],
    ]


def test_revenue_only_on_purchase(spark):
    got = reasons(
        spark,
        [(1, "purchase", Decimal("9.99")), (2, "page_view", Decimal("1.00")), (3, "page_view", None)],
        "id int, event_type string, revenue decimal(18,2)",
        [
            rule(
                name="revenue_only_on_purchase",
                kind="null_unless",
                column="revenue",
                allowed_if="event_type = 'purchase'",
            )
        ],
    )
    assert got == [[], ["revenue_only_on_purchase"], []]


def test_expr_rule(spark):
    got = reasons(
        spark,
        [(1, "c", None), (2, None, "a"), (3, None, None)],
        "id int, customer_id string, anonymous_id string",
        [rule(name="subject_known", kind="expr", expr="customer_id IS NOT NULL OR anonymous_id IS NOT NULL")],
    )
    assert got == [[], [], ["subject_known"]]


def test_every_broken_rule_is_collected_and_valid_rows_split_off(spark):
    df = spark.createDataFrame(
        [(1, "e1", "web"), (2, None, "fax"), (3, "e3", "fax")], "id int, event_id string, channel string"
    )
    specs = [
        rule(name="event_id_required", kind="required", column="event_id"),
        rule(name="channel_allowed", kind="allowed", column="channel", values=["web"]),
    ]
    flagged = with_rule_failures(df, compile_rules(specs, NOW))
    accepted, rejected = flagged.filter(is_valid()).drop(REASONS), flagged.filter(~is_valid())
    assert_df_equality(accepted, df.filter("id = 1"))
    expected = spark.createDataFrame(
        [(2, None, "fax", ["event_id_required", "channel_allowed"]), (3, "e3", "fax", ["channel_allowed"])],
        f"id int, event_id string, channel string, {REASONS} array<string>",
    )
    assert_df_equality(rejected, expected, ignore_row_order=True, ignore_nullable=True)


def test_rule_spec_needs_fields_of_its_kind():
    with pytest.raises(ValidationError, match="needs"):
        RuleSpec(name="x", kind="allowed", column="c")
    with pytest.raises(ValidationError, match="min and/or max"):
        RuleSpec(name="x", kind="range", column="c")


def test_duplicate_rule_names_rejected():
    with pytest.raises(ValidationError, match="duplicate rule names"):
        IngestConfig(
            rules={"raw_events": [{"name": "a", "kind": "required", "column": "x"}] * 2},
        )


def test_conf_ingest_yaml_loads_and_covers_every_raw_table():
    cfg = load_config([CONF])
    assert set(cfg.ingest.rules) == {"raw_events", "raw_crm_customers", "raw_orders", "raw_consents", "raw_texts"}
    declared = {r.name for rules in cfg.ingest.rules.values() for r in rules}
    assert "currency_allowed" not in declared  # derived from ingest.currencies, so --set reaches it
    assert "EUR" in cfg.ingest.currencies
    assert cfg.ingest.optional_inputs == ["raw_texts"]


def test_currency_rule_lets_null_pass(spark):
    df = spark.createDataFrame([(1, "EUR"), (2, "USD"), (3, None)], "id int, currency string")
    got = [r[REASONS] for r in with_rule_failures(df, [currency_rule(["EUR"])]).orderBy("id").collect()]
    assert got == [[], ["currency_allowed"], []]


RAW_ORDERS = (
    "order_id string, customer_id string, order_ts timestamp, amount decimal(18,2), currency string, status string"
)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], [[], []]),
        (["ingest.currencies=[EUR]"], [[], ["currency_allowed"]]),
        (["ingest.currencies=[]"], [[], []]),
    ],
)
def test_currencies_override_reaches_the_currency_rule(spark, overrides, expected):
    cfg = load_config([CONF], overrides)
    raw = spark.createDataFrame(
        [
            ("o1", "c1", NOW, Decimal("1.00"), "EUR", "completed"),
            ("o2", "c1", NOW, Decimal("1.00"), "USD", "completed"),
        ],
        RAW_ORDERS,
    )
    flagged, rules = flag_rows(cfg, raw, "raw_orders", NOW)
    assert [r[REASONS] for r in flagged.orderBy("order_id").collect()] == expected
    assert ("currency_allowed" in [r.name for r in rules]) == bool(cfg.ingest.currencies)


def test_declared_rule_may_not_take_a_derived_rule_name():
    with pytest.raises(ValidationError, match=r"derived from ingest\.currencies"):
        IngestConfig(rules={"raw_orders": [{"name": "currency_allowed", "kind": "required", "column": "currency"}]})
