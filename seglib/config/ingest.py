"""Config of the ingest stage (validation, quarantine, de-duplication, incremental bookmarks).

The quality rules themselves are declared per raw table in ``conf/ingest.yaml`` (key ``ingest.rules``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel
from seglib.config.rules import EVENT_TYPES

# The raw inputs of seglib.tables.RAW_INPUTS (config does not import the registry; a test keeps them equal).
RawTableName = Literal["raw_events", "raw_crm_customers", "raw_orders", "raw_consents", "raw_texts"]
_OPTIONAL_BY_DEFAULT: tuple[RawTableName, ...] = ("raw_texts",)  # IngestConfig.optional_inputs' default
# Rule names ingest derives from config itself; a declared rule may not reuse them.
IMPLICIT_RULE_NAMES = ("currency_allowed",)

# Value lists declared once in seglib that an `allowed` rule names (`values_from`) instead of repeating them.
VOCABULARIES: dict[str, tuple[str, ...]] = {"event_types": EVENT_TYPES}
Vocabulary = Literal["event_types"]  # the keys of VOCABULARIES (a test keeps them equal)

RuleKind = Literal["required", "castable", "allowed", "range", "pattern", "not_future", "null_unless", "expr"]

# Which optional fields each rule kind needs, so a typo fails at config load, not mid-run.
_NEEDS: dict[str, tuple[str, ...]] = {
    "required": ("column",),
    "castable": ("column", "type"),
    "allowed": ("column", "values"),
    "range": ("column",),
    "pattern": ("column", "pattern"),
    "not_future": ("column",),
    "null_unless": ("column", "allowed_if"),
    "expr": ("expr",),
}


class RuleSpec(StrictModel):
    """One declarative row-level rule; a row breaking it is quarantined with ``name`` among its reasons."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_]+$")
    kind: RuleKind
    column: str | None = None
    type: str | None = Field(None, description="castable: Spark SQL type the value must cast to.")
    values: list[str] | None = Field(
        None,
        description="allowed: the permitted values (compared as strings); filled from values_from when that is given.",
    )
    values_from: Vocabulary | None = Field(
        None,
        description="allowed: take the values from a list declared in seglib instead of repeating it: event_types "
        "(seglib.config.rules.EVENT_TYPES, the events contract).",
    )
    min: float | None = None
    max: float | None = None
    pattern: str | None = Field(None, description="pattern: Java regex the whole value must match.")
    allowed_if: str | None = Field(None, description="null_unless: SQL condition under which a value is allowed.")
    expr: str | None = Field(None, description="expr: SQL boolean that must hold (null counts as a pass).")

    @model_validator(mode="before")
    @classmethod
    def _resolve_values_from(cls, data: Any) -> Any:
        """``values_from`` -> ``values`` at load, so the rule engine sees one list; a dumped config (both keys,
        equal) loads again, two different lists are an error."""
        if not isinstance(data, dict) or data.get("values_from") not in VOCABULARIES:
            return data  # no reference, or an unknown name: the field's own validation reports it
        declared = list(VOCABULARIES[data["values_from"]])
        if data.get("values") is not None and data["values"] != declared:
            raise ValueError(
                f"rule {data.get('name')!r}: give values or values_from, not both "
                f"(values_from {data['values_from']!r} is {declared})"
            )
        return {**data, "values": declared}

    @model_validator(mode="after")
    def _fields_for_kind(self) -> RuleSpec:
        if self.values_from is not None and self.kind != "allowed":
            raise ValueError(f"rule {self.name!r}: values_from is for kind 'allowed', not {self.kind!r}")
        missing = [f for f in _NEEDS[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"rule {self.name!r} of kind {self.kind!r} needs {missing}")
        if self.kind == "range" and self.min is None and self.max is None:
            raise ValueError(f"range rule {self.name!r} needs min and/or max")
        return self


class IngestConfig(StrictModel):
    future_tolerance_minutes: int = Field(10, ge=0, description="Timestamps later than now+this are quarantined.")
    currencies: list[str] = Field(
        default_factory=list,
        description="ISO-4217 allow-list checked on every raw table's currency column (rule currency_allowed); "
        "empty = no allow-list.",
    )
    optional_inputs: list[RawTableName] = Field(
        default_factory=lambda: list(_OPTIONAL_BY_DEFAULT),
        description="Raw tables that may be absent: read as empty (with a warning) instead of failing the run. "
        "An existing empty table is always fine.",
    )
    rules: dict[str, list[RuleSpec]] = Field(
        default_factory=dict, description="Per raw table (raw_events, raw_orders, ...): the row rules."
    )
    use_change_data_feed: bool = Field(
        True, description="Read raw increments with Delta CDF when the table has it; else by file diff."
    )

    @model_validator(mode="after")
    def _unique_rule_names(self) -> IngestConfig:
        for table, rules in self.rules.items():
            names = [r.name for r in rules]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"ingest.rules.{table} has duplicate rule names {dupes}")
            reserved = sorted(set(names) & set(IMPLICIT_RULE_NAMES))
            if reserved:
                raise ValueError(f"ingest.rules.{table}: {reserved} is derived from ingest.currencies; rename it")
        for rule in self.rules.get("raw_events", []):
            outside = [v for v in rule.values or [] if v not in EVENT_TYPES]
            if rule.kind == "allowed" and rule.column == "event_type" and outside:
                raise ValueError(
                    f"ingest.rules.raw_events rule {rule.name!r} allows {outside}, outside the events contract "
                    f"{list(EVENT_TYPES)}; values_from: event_types takes the contract's list"
                )
        return self
