"""Rule segments: grammar, validation before data, compilation to Spark columns, percentiles, event windows.

Parser and validator tests are pure Python; the Spark tests share two module fixtures (one assignment, one window
count) so the file stays a handful of Spark queries.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from unittest import mock

import pytest
import yaml
from chispa import assert_df_equality
from pyspark.sql import types as T

from seglib.config import load_config
from seglib.config.features import FeaturesConfig
from seglib.config.rules import FamilyConfig, RuleConfig, RuleSetConfig, WindowConfig
from seglib.features.dictionary import feature_column_comments
from seglib.segments.rules import (
    And,
    Compare,
    InList,
    IsNull,
    Not,
    Or,
    Percentile,
    RuleSyntaxError,
    RuleValidationError,
    assign_rule_segments,
    compute_percentiles,
    event_window_counts,
    parse_rule,
    schema_of,
    validate_rules,
)

SEGMENTS_YAML = Path(__file__).resolve().parents[2] / "conf" / "segments.yaml"
SCHEMA = {
    "x": "double",
    "n": "int",
    "count": "bigint",
    "s": "string",
    "flag": "boolean",
    "d": "date",
    "ts": "timestamp",
}


def family(*rules: tuple[str, str, int], exclusive: bool = True, fallback: str | None = None) -> FamilyConfig:
    return FamilyConfig(
        exclusive=exclusive,
        fallback=fallback,
        rules=[RuleConfig(name=n, when=w, priority=p) for n, w, p in rules],
    )


def problems(*rules: tuple[str, str, int], exclusive: bool = True, fallback: str | None = None) -> list[str]:
    """The validation problems of a one-family rule set named f ([] when it is valid)."""
    try:
        validate_rules(RuleSetConfig(families={"f": family(*rules, exclusive=exclusive, fallback=fallback)}), SCHEMA)
    except RuleValidationError as exc:
        assert all(p in str(exc) for p in exc.problems)
        return exc.problems
    return []


# ------------------------------------------------------------------------------------------------------------ parser
def test_precedence_not_and_or():
    a, b, c = (Compare(col, "=", 1) for col in "abc")
    assert parse_rule("a = 1 or b = 2 and not c = 3") == Or(
        (Compare("a", "=", 1), And((Compare("b", "=", 2), Not(Compare("c", "=", 3)))))
    )
    assert parse_rule("not a = 1 and b = 1") == And((Not(a), b))
    assert parse_rule("(a = 1 or b = 1) and c = 1") == And((Or((a, b)), c))
    assert parse_rule("NOT (a = 1 OR b = 1)") == Not(Or((a, b)))


def test_values_in_lists_null_tests_and_percentiles():
    node = parse_rule("s in ('a', \"b c\") and s not in ('z') and n is null and x is not null and flag != true")
    assert node == And(
        (
            InList("s", ("a", "b c")),
            InList("s", ("z",), negated=True),
            IsNull("n"),
            IsNull("x", negated=True),
            Compare("flag", "!=", True),
        )
    )
    assert parse_rule("x >= p75(monetary_365d)") == Compare("x", ">=", Percentile(75, "monetary_365d"))
    assert parse_rule("x < -1.5e2 and n > 3 and n <= 0.5") == And(
        (Compare("x", "<", -150.0), Compare("n", ">", 3), Compare("n", "<=", 0.5))
    )
    assert isinstance(parse_rule("n > 3").value, int)
    assert parse_rule("p50 > 3") == Compare("p50", ">", 3)  # pNN is a column unless a '(' follows


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("x >", 4, "expected a number"),
        ("x >> 3", 4, "found '>'"),
        ("(x = 1", 7, "expected ')'"),
        ("s = 'a", 5, "unterminated"),
        ("x p50(x)", 3, "comparison operator"),
        ("x >= p0(x)", 6, "p1 .. p99"),
        ("x in (p50(x))", 7, "not allowed in an 'in' list"),
        ("x = 1 y", 7, "expected 'and', 'or'"),
        ("x == 1", 4, "expected a number"),
        ("x = 1 and", 10, "column name"),
        ("x ~ 1", 3, "unexpected character '~'"),
    ],
)
def test_parse_errors_name_the_rule_and_position(text, position, fragment):
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text, "fam/My segment")
    assert info.value.position + 1 == position
    assert str(info.value).startswith(f"fam/My segment: syntax error at position {position} ")
    assert fragment in str(info.value)


def test_syntax_errors_are_collected_by_validation():
    found = problems(("broken", "x >", 1), ("ok", "x > 1", 2), ("also broken", "(x > 1", 3))
    assert len(found) == 2
    assert found[0].startswith("f/broken: syntax error") and found[1].startswith("f/also broken: syntax error")


# -------------------------------------------------------------------------------------------------------- validation
def test_unknown_column_suggests_close_names():
    [problem] = problems(("seg", "cuont > 1", 1))
    assert problem == "f/seg: unknown column 'cuont' at position 1 (did you mean 'count'?)"
    assert "unknown column 'y'" in problems(("seg", "x > p50(y)", 1))[0]


def test_type_mismatches():
    assert problems(("seg", "s > 'a'", 1)) == [
        "f/seg: ordering comparison '>' on column 's' (string): only =, !=, in and is null apply"
    ]
    assert problems(("seg", "s = 3", 1)) == ["f/seg: number 3 compared with column 's' (string)"]
    assert problems(("seg", "x = 'high'", 1)) == ["f/seg: string literal 'high' compared with column 'x' (double)"]
    assert problems(("seg", "x in (1, 'a')", 1)) == ["f/seg: string literal 'a' compared with column 'x' (double)"]
    assert problems(("seg", "x > p50(s)", 1)) == ["f/seg: percentile p50(s) of non-numeric column 's' (string)"]
    assert problems(("seg", "flag = 1", 1)) == ["f/seg: number 1 compared with column 'flag' (boolean)"]
    assert problems(("seg", "d > '2024-13-01'", 1)) == [
        "f/seg: column 'd' (date) needs a 'YYYY-MM-DD' date, got '2024-13-01'"
    ]
    assert problems(("seg", "ts > 1", 1)) == ["f/seg: column 'ts' (timestamp) only supports 'is null' / 'is not null'"]
    assert problems(("seg", "ts is not null and d >= '2024-01-01' and flag in (true)", 1)) == []


def test_empty_family_duplicate_names_and_misplaced_fallback():
    assert problems() == ["f: empty family (no rules)"]
    assert problems(("a", "x > 1", 1), ("a", "x < 0", 2)) == ["f/a: duplicate segment name in the family"]
    assert problems(("a", "x > 1", 1), fallback="a") == ["f/a: duplicate segment name in the family"]
    assert problems(("a", "x > 1", 1), exclusive=False, fallback="rest") == [
        "f: fallback 'rest' only applies to exclusive families"
    ]


def test_unreachable_rule():
    assert problems(("wide", "x >= 0", 1), ("narrow", "x > 5 and s = 'a'", 2)) == [
        "f/narrow: unreachable rule: every subject it matches is taken by higher-priority rule(s) 'wide'"
    ]
    # Each box is covered by one higher box: here by two different rules.
    found = problems(("neg", "x < 0", 1), ("pos", "x >= 0", 2), ("some", "x = 3 or x = -3", 3))
    assert found == [
        "f/some: unreachable rule: every subject it matches is taken by higher-priority rule(s) 'pos', 'neg'"
    ]
    # Exact on integers, value sets, booleans and negations (not n < 5 is n >= 5 under SQL nulls).
    assert problems(("a", "n >= 1 and n <= 2", 1), ("b", "n in (1, 2)", 2))
    assert problems(("a", "n in (1, 2, 3)", 1), ("b", "n > 0 and n < 3", 2))
    assert problems(("a", "flag = true", 1), ("b", "flag != false", 2))
    assert problems(("a", "not n < 5", 1), ("b", "n > 6", 2))
    assert problems(("a", "d >= '2024-01-01'", 1), ("b", "d > '2024-02-01'", 2))
    # The other way round, or overlapping only partly: reachable.
    assert problems(("narrow", "x > 5", 1), ("wide", "x >= 0", 2)) == []
    assert problems(("a", "x >= 0 and s = 'a'", 1), ("b", "x > 5", 2)) == []
    assert problems(("a", "n is null", 1), ("b", "n < 3", 2)) == []


def test_unreachable_by_union_is_not_claimed():
    # x <= 5 is covered by x < 3 together with x >= 3, not by one box: the single-box check does not report it.
    assert problems(("low", "x < 3", 1), ("high", "x >= 3", 2), ("mid", "x <= 5", 3)) == []


def test_condition_that_never_matches():
    never = ["f/seg: unreachable rule: its condition can never be true"]
    assert problems(("seg", "n > 2 and n < 3", 1), exclusive=False) == never
    assert problems(("seg", "x > 5 and not x > 1", 1)) == never
    assert problems(("seg", "s = 'a' and s = 'b'", 1)) == never
    assert problems(("seg", "x is null and x > 1", 1)) == never
    assert problems(("seg", "x >= p75(x) and x < p50(x)", 1)) == never


def test_percentiles_are_ordered_only_within_one_column():
    unreachable = "f/b: unreachable rule: every subject it matches is taken by higher-priority rule(s) 'a'"
    assert problems(("a", "x >= p50(x)", 1), ("b", "x >= p75(x)", 2)) == [unreachable]
    assert problems(("a", "x >= p50(x)", 1), ("b", "x > p50(x)", 2)) == [unreachable]
    # p75 >= p50 is all that is known: x >= p50 is not within x >= p75, nor x > p50 within x >= p75 ...
    assert problems(("a", "x >= p75(x)", 1), ("b", "x >= p50(x)", 2)) == []
    # ... and a percentile is unrelated to literals and to other columns' percentiles.
    assert problems(("a", "x >= 100", 1), ("b", "x >= p75(x)", 2)) == []
    assert problems(("a", "x >= p50(n)", 1), ("b", "x >= p75(x)", 2)) == []


def test_overlapping_exclusive_rules():
    assert problems(("a", "x < 3", 1), ("b", "x >= 2 and s = 'k'", 1)) == [
        "f/a: overlapping exclusive rules: 'a' and 'b' share priority 1 and can both match; give them different "
        "priorities"
    ]
    # Provably disjoint rules may share a priority; overlap with different priorities is resolved by priority.
    assert problems(("a", "x < 3", 1), ("b", "x >= 3", 1)) == []
    assert problems(("a", "s in ('a', 'b')", 1), ("b", "s = 'c' or s is null", 1)) == []
    assert problems(("a", "x < p50(x)", 1), ("b", "x >= p60(x)", 1)) == []
    assert problems(("a", "x < 3", 1), ("b", "x >= 2", 2)) == []
    assert problems(("a", "x < 3", 1), ("b", "x >= 2", 1), exclusive=False) == []


def test_duplicate_priority_that_cannot_be_decided():
    # x != p50(x) is no box: the rule is over-approximated and never proves an overlap (nor makes others unreachable).
    assert problems(("a", "x != p50(x)", 1), ("b", "x > 3", 1))[0].startswith("f/a: duplicate priority 1 with 'b'")
    assert problems(("a", "x != p50(x) and x > 0", 1), ("b", "x > 3", 2)) == []
    assert problems(("a", "x < p50(x)", 1), ("b", "x > 10", 1)) == [
        "f/a: duplicate priority 1 with 'b': the rules cannot be proven disjoint before data; give them different "
        "priorities"
    ]


def test_window_problems_and_all_problems_in_one_exception():
    rules = RuleSetConfig(
        windows={
            "carts": WindowConfig(event_type="add_to_crat", days=1),
            "s": WindowConfig(event_type="purchase", days=1, without="purchase"),
        },
        families={"one": family(("a", "carts > 1 and nope = 1", 1)), "two": family()},
    )
    with pytest.raises(RuleValidationError) as info:
        validate_rules(rules, SCHEMA)
    assert info.value.problems == [
        "window 'carts': unknown event_type 'add_to_crat' (did you mean 'add_to_cart'?)",
        "window 's': 'without' equals event_type (every event follows itself: always 0)",
        "window 's' collides with the column 's' (string)",
        "one/a: unknown column 'nope' at position 15",
        "two: empty family (no rules)",
    ]
    assert str(info.value).startswith("invalid rule set (5 problem(s)):\n  window 'carts'")


def test_config_is_strict():
    with pytest.raises(ValueError, match="extra"):
        RuleSetConfig.model_validate({"families": {"f": {"exclusive": True, "rules": [], "prio": 1}}})


# ------------------------------------------------------------------------------------- default rule set (conf yaml)
_INT = {"recency_days", "tenure_days", "r_score", "f_score", "m_score", "plan_tier", "onboarding_completed"}
_STRING = {"subject_id", "rfm_cell", "clv_bracket", "country", "age_band", "gender", "income_band"}
_STRING |= {"company_size_band", "industry", "plan", "region"}


def _feature_type(column: str) -> str:
    """The feature table's Spark type of a column, as seglib/features builds it (counts are long, shares double)."""
    if column in _INT:
        return "int"
    if column in _STRING:
        return "string"
    counts = ("frequency_", "events_", "sessions_", "page_views_", "email_opens_", "email_clicks_", "product_views_")
    counts += ("searches_90d", "support_tickets_", "feature_uses_90d", "text_count")
    if column.startswith(counts):
        return "bigint"
    return {"is_b2b": "boolean", "snapshot_date": "date", "top_keywords": "array<string>"}.get(column, "double")


def test_default_rule_set_validates_against_the_feature_schema():
    assert set(yaml.safe_load(SEGMENTS_YAML.read_text())) == {"rules"}
    rules = load_config([str(SEGMENTS_YAML.parent / "base.yaml")], []).rules
    schema = {c: _feature_type(c) for c in feature_column_comments(FeaturesConfig())}
    for used in ("recency_days", "frequency_365d", "monetary_365d", "aov_365d", "tenure_days", "is_b2b"):
        assert used in schema
    assert schema["feature_uses_90d"] == "bigint" and schema["engagement_trend"] == "double"
    schema |= {f"propensity_{t}": "double" for t in ("purchase", "churn", "upgrade")}
    schema |= {"predicted_clv": "double", "predicted_clv_bracket": "string"}
    validated = validate_rules(rules, schema)
    playbook = [r.config.name for r in validated.families["playbook"]]
    assert playbook == [
        "B2B power users",
        "High-value recent buyers",
        "At-risk",
        "Lapsed",
        "Bargain hunters",
        "New and curious",
    ]
    assert rules.families["playbook"].exclusive and rules.families["playbook"].fallback
    assert not rules.families["tags"].exclusive
    assert set(rules.windows) == {"cart_abandoned_24h", "support_tickets_7d"}
    # Without the model outputs joined in, the score rules name their unknown columns.
    with pytest.raises(RuleValidationError, match="tags/Top predicted CLV: unknown column 'predicted_clv'"):
        validate_rules(rules, {c: _feature_type(c) for c in feature_column_comments(FeaturesConfig())})


# ------------------------------------------------------------------------------------------------------------ Spark
AS_OF = date(2024, 3, 10)  # cut-off 2024-03-10 00:00 UTC


def _ts(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


EVENTS = [
    # s1: an abandoned cart; three tickets, the first exactly at the 7-day window start (included).
    ("s1", _ts(9, 10), "add_to_cart"),
    ("s1", _ts(3), "support_ticket"),
    ("s1", _ts(5), "support_ticket"),
    ("s1", _ts(9, 23, 59, 59), "support_ticket"),
    # s2: the cart was followed by a purchase; tickets before the window and exactly at the cut-off do not count.
    ("s2", _ts(9, 10), "add_to_cart"),
    ("s2", _ts(9, 12), "purchase"),
    ("s2", _ts(2, 23, 59, 59), "support_ticket"),
    ("s2", _ts(5), "support_ticket"),
    ("s2", _ts(10), "support_ticket"),
    # s3: a cart exactly at the cut-off: excluded, so no row at all.
    ("s3", _ts(10), "add_to_cart"),
    # s4: a purchase BEFORE the cart does not rescue it.
    ("s4", _ts(9, 9), "purchase"),
    ("s4", _ts(9, 11), "add_to_cart"),
    # s5: a cart older than 24 h (a row: it is within the 7-day span read, but counts 0).
    ("s5", _ts(8, 23, 59, 59), "add_to_cart"),
    # s6: the purchase happens at the cut-off: not seen yet (point in time), the cart counts as abandoned.
    ("s6", _ts(9, 10), "add_to_cart"),
    ("s6", _ts(10), "purchase"),
    ("s7", _ts(9, 10), "page_view"),
    (None, _ts(9, 10), "add_to_cart"),
]
WINDOWS = {
    "cart_abandoned_24h": WindowConfig(event_type="add_to_cart", days=1, without="purchase"),
    "support_tickets_7d": WindowConfig(event_type="support_ticket", days=7),
}
FEATURES = [
    # subject_id, recency_days, monetary_365d, is_b2b, plan, score (all null)
    ("s1", 5, 1000.0, False, "premium", None),
    ("s2", 10, 100.0, None, "free", None),
    ("s3", 200, 50.0, False, None, None),
    ("s4", None, 0.0, False, "basic", None),
    ("s5", 20, 600.0, True, "enterprise", None),
    ("s6", 400, None, None, None, None),
]
RULES = RuleSetConfig(
    windows=WINDOWS,
    families={
        "tier": FamilyConfig(
            exclusive=True,
            fallback="other",
            description="value tiers",
            rules=[
                # Listed out of priority order on purpose: evaluation follows priority.
                RuleConfig(name="not recent", when="not recency_days <= 30", priority=3),
                RuleConfig(name="recent", when="recency_days <= 30", priority=2),
                RuleConfig(name="vip", when="recency_days <= 30 and monetary_365d >= p80(monetary_365d)", priority=1),
            ],
        ),
        "tags": FamilyConfig(
            exclusive=False,
            rules=[
                RuleConfig(name="abandoner", when="cart_abandoned_24h >= 1", priority=5),
                RuleConfig(name="big", when="monetary_365d > p50(monetary_365d)", priority=1),
                RuleConfig(name="b2b", when="is_b2b = true", priority=2),
                RuleConfig(name="paid", when="plan in ('premium', 'enterprise')", priority=3),
                RuleConfig(name="escalation", when="support_tickets_7d >= 3", priority=6),
                RuleConfig(name="scored", when="score >= p10(score)", priority=7),
            ],
        ),
    },
)


@pytest.fixture(scope="module")
def events(spark):
    schema = "subject_id string, event_ts timestamp, event_type string"
    return spark.createDataFrame(EVENTS, schema)


@pytest.fixture(scope="module")
def features(spark):
    schema = "subject_id string, recency_days int, monetary_365d double, is_b2b boolean, plan string, score double"
    return spark.createDataFrame(FEATURES, schema)


@pytest.fixture(scope="module")
def assigned(features, events):
    """(rows by subject, the assigned frame, the percentiles) of one assignment; the one aggregation is counted."""
    agg = type(features).agg
    with mock.patch.object(type(features), "agg", autospec=True, side_effect=agg) as spy:
        out, percentiles = assign_rule_segments(features, RULES, events=events, as_of=AS_OF)
    calls = spy.call_count
    # Computed once for all the tests below (each further action on tiny data only scans the checkpoint).
    out = out.localCheckpoint()
    rows = {r["subject_id"]: r for r in out.collect()}
    return rows, out, percentiles, calls


def test_percentiles_computed_in_one_aggregation_and_returned(assigned):
    _, _, percentiles, agg_calls = assigned
    assert agg_calls == 1
    # percentile_approx returns a value of the column (nulls ignored): of [0, 50, 100, 600, 1000], p50 = 100 and
    # p80 = 600.
    assert percentiles == {"p80(monetary_365d)": 600.0, "p50(monetary_365d)": 100.0, "p10(score)": None}


def test_exclusive_family_by_priority_with_fallback_and_tags_as_arrays(spark, assigned):
    _, out, _, _ = assigned
    expected = spark.createDataFrame(
        [
            ("s1", "vip", ["big", "paid", "abandoner", "escalation"]),  # vip and recent both match: vip has priority
            ("s2", "recent", []),  # is_b2b null: not a b2b match
            ("s3", "not recent", []),
            ("s4", "other", ["abandoner"]),  # recency null: neither "<= 30" nor "not <= 30" -> fallback
            ("s5", "vip", ["big", "b2b", "paid"]),  # 600 >= p80 = 600
            ("s6", "not recent", ["abandoner"]),
        ],
        "subject_id string, rule_tier string, rule_tags array<string>",
    )
    assert_df_equality(
        out.select("subject_id", "rule_tier", "rule_tags"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_null_semantics_and_column_metadata(assigned):
    rows, out, percentiles, _ = assigned
    assert rows["s4"]["recency_days"] is None and rows["s4"]["rule_tier"] == "other"
    assert rows["s2"]["is_b2b"] is None and "b2b" not in rows["s2"]["rule_tags"]
    # A percentile of an all-null column is null: its rule matches nobody.
    assert percentiles["p10(score)"] is None and not any("scored" in r["rule_tags"] for r in rows.values())
    # Subjects without a relevant event get window counts of 0, not null.
    assert rows["s3"]["cart_abandoned_24h"] == 0 and rows["s3"]["support_tickets_7d"] == 0
    meta = out.schema["rule_tier"].metadata["seglib_rule_family"]
    assert meta["exclusive"] and meta["fallback"] == "other" and meta["description"] == "value tiers"
    assert meta["segments"]["vip"]["priority"] == 1
    assert out.schema["rule_tags"].dataType.elementType == T.StringType()


def test_event_windows_at_the_cut_off(assigned):
    rows, _, _, _ = assigned
    counts = {k: (r["cart_abandoned_24h"], r["support_tickets_7d"]) for k, r in rows.items()}
    # s3's only event is at the cut-off: no count row, filled with 0 like every subject without such events.
    assert counts == {"s1": (1, 3), "s2": (0, 1), "s3": (0, 0), "s4": (1, 0), "s5": (0, 0), "s6": (1, 0)}


def test_event_window_counts_plan(events):
    """One grouped pass over the kept events, no Python UDF; columns subject_id + one bigint per window."""
    counts = event_window_counts(events, AS_OF, WINDOWS)
    assert schema_of(counts) == {"subject_id": "string", "cart_abandoned_24h": "bigint", "support_tickets_7d": "bigint"}
    plan = counts._jdf.queryExecution().optimizedPlan().toString()
    assert plan.count("Aggregate") == 1 and "PythonUDF" not in plan and "BatchEvalPython" not in plan


def test_validation_happens_before_data_is_read(features):
    bad = RuleSetConfig(families={"f": family(("seg", "monetary_365 > p50(monetary_365d)", 1))})
    unknown = r"f/seg: unknown column 'monetary_365' .*'monetary_365d'"
    with (
        mock.patch.object(type(features), "agg", autospec=True) as spy,
        pytest.raises(RuleValidationError, match=unknown),
    ):
        assign_rule_segments(features, bad)
    spy.assert_not_called()
    assert schema_of(features)["recency_days"] == "int"
    validated = validate_rules(RULES, schema_of(features))
    assert [p.key for p in validated.percentiles()] == ["p80(monetary_365d)", "p50(monetary_365d)", "p10(score)"]
    assert compute_percentiles(features, validate_rules(RuleSetConfig(), {})) == {}
