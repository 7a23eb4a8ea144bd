"""A small declarative rule engine: each rule compiles to one boolean Column; all run in a single projection.

A row's broken rules are gathered into ``_dq_reasons`` (array<string> of rule names, empty when the row is
valid), so splitting valid from invalid rows is one filter, never a join per rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import TypeVar

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.ingest import RuleSpec
from seglib.ingest.contract import try_cast

REASONS = "_dq_reasons"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Rule:
    """A compiled rule: ``passes`` is true (never null) when the row satisfies it."""

    name: str
    passes: Column


def as_utc_instant(now: datetime) -> datetime:
    """Naive datetimes are UTC (seglib's convention), so the literal is the same instant on any machine."""
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _col(name: str) -> Column:
    return F.col(f"`{name}`")


def _null_or(col: Column, check: Column) -> Column:
    """Nullness is the `required` rule's job: every other check lets nulls pass."""
    return col.isNull() | check


def _need(spec: RuleSpec, field: str, value: _T | None) -> _T:
    """A field the rule's kind needs (RuleSpec's validator already refuses a spec without it)."""
    if value is None:
        raise ValueError(f"rule {spec.name!r} of kind {spec.kind!r} needs {field}")
    return value


def compile_rule(spec: RuleSpec, now: datetime, future_tolerance_minutes: int = 0) -> Rule:
    """RuleSpec -> Rule; ``now`` is a parameter so time rules are testable without the clock."""
    if spec.kind == "expr":
        return Rule(spec.name, F.coalesce(F.expr(_need(spec, "expr", spec.expr)), F.lit(True)))
    column = _need(spec, "column", spec.column)  # every other kind checks one column
    c = _col(column)
    if spec.kind == "required":
        # A blank identifier is as missing as a null one (its pseudonym would be null).
        passes = c.isNotNull() & (F.trim(c.cast("string")) != F.lit(""))
    elif spec.kind == "castable":
        passes = _null_or(c, try_cast(column, _need(spec, "type", spec.type)).isNotNull())
    elif spec.kind == "allowed":
        passes = _null_or(c, c.cast("string").isin(list(_need(spec, "values", spec.values))))
    elif spec.kind == "range":
        value = try_cast(column, "double")
        lo = value >= F.lit(spec.min) if spec.min is not None else F.lit(True)
        hi = value <= F.lit(spec.max) if spec.max is not None else F.lit(True)
        passes = _null_or(c, lo & hi)
    elif spec.kind == "pattern":
        passes = _null_or(c, c.cast("string").rlike(_need(spec, "pattern", spec.pattern)))
    elif spec.kind == "not_future":
        deadline = as_utc_instant(now) + timedelta(minutes=future_tolerance_minutes)
        passes = _null_or(c, try_cast(column, "timestamp") <= F.lit(deadline))
    elif spec.kind == "null_unless":
        passes = _null_or(c, F.expr(_need(spec, "allowed_if", spec.allowed_if)))
    else:  # pragma: no cover - RuleSpec's Literal type rejects this at config load
        raise ValueError(f"unknown rule kind {spec.kind!r}")
    return Rule(spec.name, F.coalesce(passes, F.lit(True)))


CURRENCY_RULE = "currency_allowed"


def currency_rule(currencies: Sequence[str]) -> Rule:
    """The ``ingest.currencies`` allow-list as a rule on a table's ``currency`` column (nulls pass)."""
    c = _col("currency")
    return Rule(CURRENCY_RULE, F.coalesce(_null_or(c, c.isin(list(currencies))), F.lit(True)))


def compile_rules(specs: Sequence[RuleSpec], now: datetime, future_tolerance_minutes: int = 0) -> list[Rule]:
    return [compile_rule(s, now, future_tolerance_minutes) for s in specs]


def with_rule_failures(df: DataFrame, rules: Sequence[Rule]) -> DataFrame:
    """Add ``_dq_reasons``: the names of the rules the row breaks, in declaration order, in one projection."""
    if not rules:
        return df.withColumn(REASONS, F.array().cast("array<string>"))
    flags = [F.when(~r.passes, F.lit(r.name)) for r in rules]
    # Most rows pass every rule: they get the empty array without building and compacting one array per row.
    passes_all = reduce(Column.__and__, [r.passes for r in rules])
    return df.withColumn(
        REASONS, F.when(passes_all, F.array().cast("array<string>")).otherwise(F.array_compact(F.array(*flags)))
    )


def is_valid(reasons: Column | None = None) -> Column:
    return F.size(reasons if reasons is not None else F.col(REASONS)) == 0
