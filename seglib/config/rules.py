"""Config of rule segments (seglib/segments/rules.py): families of boolean rules over feature, score and CLV columns,
plus the event-window counts the rules can reference (conf/segments.yaml holds the default rule set).

Only the shape is checked here; what needs the feature schema (columns, types, unreachable or overlapping rules) is
checked by ``seglib.segments.rules.validate_rules`` before any data is read, all problems reported together.
"""

from __future__ import annotations

from pydantic import Field

from seglib.config.base import StrictModel

# The event types of the events contract (raw_events.event_type, validated into silver events), declared here once:
# config is seglib's ground floor (pydantic only, importable without Spark). Derived from it: the contract's column
# comment (seglib/tables.py -> docs/tables.md, README), the ingest rule event_type_allowed (`values_from:
# event_types` in conf/ingest.yaml), the segment windows' check and the generator's event mix;
# tests/config/test_event_types.py fails when any other mention drifts from it.
EVENT_TYPES: tuple[str, ...] = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "checkout",
    "purchase",
    "email_open",
    "email_click",
    "feature_use",
    "support_ticket",
    "login",
    "signup",
)
# Family and window names become column names (rule_<family>, <window>): plain SQL identifiers only.
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


class RuleConfig(StrictModel):
    """One segment of a family: subjects for whom ``when`` is true (see the grammar in seglib/segments/rules.py)."""

    name: str = Field(min_length=1, description="Segment name written to the family column, e.g. 'At-risk'.")
    when: str = Field(
        min_length=1,
        description="Boolean expression over columns, e.g. 'recency_days <= 30 and monetary_365d >= p75(monetary_365d)'"
        "; a comparison on a null value does not match.",
    )
    priority: int = Field(
        0,
        description="Exclusive families: lower is evaluated first and wins; two rules may share a priority only when "
        "they provably cannot both match. Non-exclusive families: the order of the tags in the array.",
    )
    description: str = Field("", description="What the segment is for; kept in the family column's metadata.")


class FamilyConfig(StrictModel):
    """A set of rules producing one column ``rule_<family>``."""

    exclusive: bool = Field(
        description="true: each subject gets exactly one segment (the first matching rule by priority, else the "
        "fallback) in a string column; false: every matching rule's name as tags in an array<string> column."
    )
    fallback: str | None = Field(
        None,
        description="Exclusive families only: the segment of subjects no rule matches (null = a null segment).",
    )
    description: str = Field("", description="What the family is for; kept in the family column's metadata.")
    rules: list[RuleConfig] = Field(default_factory=list, description="The family's rules (at least one).")


class WindowConfig(StrictModel):
    """A per-subject count of recent events, added as a bigint column named after the window."""

    event_type: str = Field(description=f"Event type counted, one of {', '.join(EVENT_TYPES)}.")
    days: int = Field(
        ge=1,
        le=366,
        description="Counts events in [cut-off - days, cut-off): the cut-off is as_of 00:00 UTC (1 = the last 24 h).",
    )
    without: str | None = Field(
        None,
        description="Optional event type that must not follow: an event counts only if no event of this type "
        "happened at or after it, before the cut-off (add_to_cart without a later purchase = abandoned cart).",
    )


class RuleSetConfig(StrictModel):
    """Rule segments: the families and the event windows their rules may use as columns."""

    windows: dict[str, WindowConfig] = Field(
        default_factory=dict,
        description="Window name (a column name, e.g. cart_abandoned_24h) -> its event count definition.",
    )
    families: dict[str, FamilyConfig] = Field(
        default_factory=dict, description="Family name (the column is rule_<family>) -> its rules."
    )
    percentile_accuracy: int = Field(
        10_000,
        ge=1,
        description="accuracy of percentile_approx for pNN(column) thresholds (relative rank error 1/accuracy).",
    )
