"""Segment assignment: every family's rows per subject, the k-anonymity flag, lineage and definitions."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from seglib.config import SeglibConfig
from seglib.config.rules import FamilyConfig, RuleConfig, RuleSetConfig
from seglib.config.segments import SegmentsConfig
from seglib.segments.assign import (
    Lineage,
    assign_segments,
    check_family_names,
    config_hash,
    resolve_percentiles,
    rule_definitions,
    slug,
)
from seglib.segments.rules import RuleValidationError

AS_OF = date(2026, 11, 1)
LINEAGE = Lineage("run1", "abc", {"features/subject_features": 4}, {"seglib_clustering": "2"})
RULES = RuleSetConfig(
    families={
        "playbook": FamilyConfig(
            exclusive=True,
            fallback="Other",
            rules=[
                RuleConfig(name="Big spenders", priority=10, when="monetary_365d >= p50(monetary_365d)"),
                RuleConfig(name="Likely buyers", priority=20, when="propensity_purchase >= 0.5"),
            ],
        ),
        "tags": FamilyConfig(
            exclusive=False,
            rules=[
                RuleConfig(name="Top CLV", priority=1, when="predicted_clv_bracket = 'top'"),
                RuleConfig(name="Any spend", priority=2, when="monetary_365d > 0"),
            ],
        ),
    }
)


@pytest.fixture(scope="module")
def assigned(spark):
    features = spark.createDataFrame(
        [("a", 900.0), ("b", 10.0), ("c", 0.0), ("d", 500.0)], "subject_id string, monetary_365d double"
    )
    clusters = spark.createDataFrame(
        [
            ("a", "S001", "Spenders", "cluster", None),
            ("b", "S002", "Browsers", "cluster", None),
            ("c", "S002", "Browsers", "classifier", 0.8),
            ("d", "S001", "Spenders", "cluster", None),
        ],
        "subject_id string, segment_id string, segment_name string, assignment_source string, confidence double",
    )
    scores = spark.createDataFrame(
        [
            ("a", "purchase", 0.9, "high"),
            ("b", "purchase", 0.6, "medium"),
            ("c", "purchase", 0.1, "low"),
            ("d", "purchase", 0.2, "low"),
        ],
        "subject_id string, target string, score double, tier string",
    )
    clv = spark.createDataFrame(
        [("a", 1200.0, "top"), ("d", 300.0, "high")], "subject_id string, predicted_clv double, clv_bracket string"
    )
    events = spark.createDataFrame([], "subject_id string, event_ts timestamp, event_type string")
    cfg = SeglibConfig(rules=RULES, segments=SegmentsConfig(min_segment_size=2))
    return assign_segments(
        cfg, AS_OF, datetime(2026, 11, 1, 6), features, clusters, scores, clv, events, LINEAGE, ["purchase", "churn"]
    )


def test_each_family_gives_its_rows_with_sources_scores_and_the_size_floor(spark, assigned):
    got = assigned.rows.select(
        "subject_id",
        "segment_family",
        "segment_id",
        "segment_name",
        "assignment_source",
        "confidence",
        "score",
        "meets_min_size",
    )
    expected = spark.createDataFrame(
        [
            # p50(monetary_365d) over 0, 10, 500, 900 is 10 (percentile_approx takes an observed value)
            ("a", "playbook", "big_spenders", "Big spenders", "rule", None, None, True),
            ("b", "playbook", "big_spenders", "Big spenders", "rule", None, None, True),
            ("c", "playbook", "other", "Other", "rule_fallback", None, None, False),
            ("d", "playbook", "big_spenders", "Big spenders", "rule", None, None, True),
            ("a", "tags", "top_clv", "Top CLV", "rule", None, None, False),
            ("a", "tags", "any_spend", "Any spend", "rule", None, None, True),
            ("b", "tags", "any_spend", "Any spend", "rule", None, None, True),
            ("d", "tags", "any_spend", "Any spend", "rule", None, None, True),
            ("a", "cluster", "S001", "Spenders", "cluster", None, None, True),
            ("b", "cluster", "S002", "Browsers", "cluster", None, None, True),
            ("c", "cluster", "S002", "Browsers", "classifier", 0.8, None, True),
            ("d", "cluster", "S001", "Spenders", "cluster", None, None, True),
            ("a", "propensity_purchase", "high", "Purchase propensity: high", "model", None, 0.9, False),
            ("b", "propensity_purchase", "medium", "Purchase propensity: medium", "model", None, 0.6, False),
            ("c", "propensity_purchase", "low", "Purchase propensity: low", "model", None, 0.1, True),
            ("d", "propensity_purchase", "low", "Purchase propensity: low", "model", None, 0.2, True),
            ("a", "clv_bracket", "top", "Predicted CLV: top", "model", None, 1200.0, False),
            ("d", "clv_bracket", "high", "Predicted CLV: high", "model", None, 300.0, False),
        ],
        "subject_id string, segment_family string, segment_id string, segment_name string, assignment_source string, "
        "confidence double, score double, meets_min_size boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert assigned.percentiles == {"p50(monetary_365d)": 10.0}


def test_rows_carry_the_snapshot_and_lineage(assigned):
    lineage = assigned.rows.select("snapshot_date", "run_id", "config_hash", "input_versions", "model_versions")
    rows = lineage.collect()
    assert len(rows) == 18
    assert all(
        tuple(r) == (AS_OF, "run1", "abc", {"features/subject_features": 4}, {"seglib_clustering": "2"}) for r in rows
    )


def test_a_rule_family_may_not_take_a_model_family_name(spark):
    cfg = SeglibConfig(rules=RuleSetConfig(families={"cluster": RULES.families["tags"]}))
    empty = spark.createDataFrame([], "subject_id string")
    with pytest.raises(RuleValidationError, match=r"rules.families \['cluster'\]"):
        assign_segments(cfg, AS_OF, datetime(2026, 11, 1), empty, empty, empty, empty, empty, LINEAGE, [])
    twins = FamilyConfig(
        exclusive=True, rules=[RuleConfig(name="At-risk", when="x > 1"), RuleConfig(name="At risk", when="x < 0")]
    )
    with pytest.raises(RuleValidationError, match="same segment id 'at_risk' as 'At-risk'"):
        check_family_names(SeglibConfig(rules=RuleSetConfig(families={"f": twins})), [])


def test_definitions_resolve_percentiles_and_hash_the_rule():
    assert resolve_percentiles("x >= p75( monetary_365d ) and y < p5(y)", {"p75(monetary_365d)": 12.5}) == (
        "x >= 12.5 and y < null"
    )
    cfg = SeglibConfig(rules=RULES)
    rows = {r[2]: r for r in rule_definitions(cfg, {"p50(monetary_365d)": 10.0})}
    assert set(rows) == {"big_spenders", "likely_buyers", "other", "top_clv", "any_spend"}
    assert rows["big_spenders"][6:8] == ("monetary_365d >= p50(monetary_365d)", "monetary_365d >= 10")
    changed = rule_definitions(SeglibConfig(rules=RULES.model_copy(deep=True)), {"p50(monetary_365d)": 99.0})
    assert {r[2]: r[9] for r in changed} == {r[2]: r[9] for r in rows.values()}  # the hash ignores the threshold
    assert slug("High-value recent buyers") == "high_value_recent_buyers"
    assert config_hash(cfg) != config_hash(SeglibConfig())
