"""Rule segments: families of boolean rules (conf/segments.yaml) over feature, score, CLV and event-window columns.

Grammar (keywords are case-insensitive; column names are plain identifiers ``[A-Za-z_][A-Za-z0-9_]*``)::

    rule       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | predicate
    predicate  := column OP value                      OP: <  <=  >  >=  =  !=
                | column ["not"] "in" "(" literal ("," literal)* ")"
                | column "is" ["not"] "null"
    value      := literal | percentile
    literal    := number | 'text' | "text" | true | false      (no escapes inside quotes)
    percentile := pNN "(" column ")"                            NN in 1..99: percentile_approx of a numeric column

``not`` binds tighter than ``and``, which binds tighter than ``or``. Types: numeric columns take numbers and
percentiles with any OP; string columns take quoted text with ``=``/``!=``/``in``; boolean columns take true/false with
``=``/``!=``/``in``; date columns take 'YYYY-MM-DD' with any OP; any column takes ``is [not] null``.

Null semantics are SQL's: a comparison or ``in`` on a null value is NULL, and so is its ``not``; a rule matches only
where it is TRUE, so a subject with a null ``recency_days`` matches neither ``recency_days <= 30`` nor
``not recency_days <= 30`` (test nulls explicitly with ``is null``). A percentile over an all-null column is null and
matches nothing.

Families: an exclusive family becomes one string column ``rule_<family>``: ``CASE WHEN`` over its rules by priority
(lower first; ties in list order), ``ELSE`` the fallback. A non-exclusive family becomes an ``array<string>`` column of
the names of every matching rule (priority order; empty when none). The rules compile to built-in Spark Column
expressions (no UDF); percentile thresholds are computed in one aggregation and substituted as literals.

Checks before any data is read (:func:`validate_rules`; all problems are raised together, each naming
``family/segment``): syntax, unknown columns (with close names), type mismatches, empty families, duplicate segment
names, fallbacks of non-exclusive families, rules that can never match, unreachable rules, and rules of
an exclusive family sharing a priority that overlap or cannot be proven disjoint.

What the unreachable and overlap checks prove. Each rule is put in negation normal form (exact under SQL's
three-valued logic: De Morgan holds and ``not (x < 5)`` is ``x >= 5``, both NULL on a null x) and then in disjunctive
normal form; each conjunction is a *box*: per column an interval (lower/upper bounds), a set of allowed values, a set
of excluded values, or a null / not-null requirement. Columns are independent dimensions: "overlap" means the
conditions are logically compatible, not that the data holds such a subject.

* A rule is reported *unreachable* only when each of its boxes is provably empty or contained in ONE box of a
  higher-priority rule. This is sound (a reported rule never matches anyone) but incomplete: a box covered only by the
  union of several boxes is not reported (``x > 5`` after ``x >= 0`` is caught, and ``x = 3`` after
  ``x < 0 or x >= 0``; ``x <= 5`` after ``x < 3`` and ``x >= 3`` is not). A rule that can never match (``x > 5 and
  x < 3``) is reported in every family.
* Two rules of an exclusive family may share a priority only if they are provably disjoint (then their order does not
  matter). Provably intersecting -> "overlapping rules"; undecidable before data (percentile bounds) -> "duplicate
  priority". With different priorities an overlap is allowed: the higher priority (lower number) wins.
* Percentile thresholds are symbolic before data: ``pNN(x)`` is an unknown constant, ordered only against other
  percentiles of the same column (``p75(x) >= p50(x)``, never strictly) and unrelated to literals and to other
  columns' percentiles. So ``x >= p50(x)`` before ``x >= p75(x)`` makes the latter unreachable, but nothing is proven
  about ``x >= p75(x)`` against ``x >= 100``. Overlap is proven with a percentile bound only when the column has
  bounds on one side only (an unbounded ray is never empty), assuming the percentile is defined (non-null).
* A rule with more than 256 conjunctions in DNF, or with ``x != pNN(...)`` (not representable as a box), is analysed
  through an over-approximation: it can still be reported unreachable or never-matching, but it never makes another
  rule unreachable and never proves an overlap (sharing its priority is a "duplicate priority").

Event windows (``windows:`` in the config, :func:`event_window_counts`): per-subject counts of one event type in the
``days`` before the cut-off (as_of 00:00 UTC, events at or after it are not seen), optionally only those not followed
by a ``without`` event before the cut-off, e.g. an add_to_cart in the last 24 h with no purchase since. Unlike the
feature cart_abandonment_rate_90d (which waits until a cart's purchase window has closed), this is the live state at
the cut-off: a cart abandoned "so far", the trigger of a reminder. Rules use the window names as bigint columns.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import reduce
from typing import Any, overload
from typing import Literal as Exactly  # this module's ``Literal`` is the rule language's literal value

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.config.rules import EVENT_TYPES, IDENTIFIER, FamilyConfig, RuleConfig, RuleSetConfig, WindowConfig
from seglib.errors import SeglibError
from seglib.features._time import before_cutoff, in_last_days

FAMILY_COLUMN_PREFIX = "rule_"
METADATA_KEY = "seglib_rule_family"
MAX_DNF_TERMS = 256
# Bounded enumeration of an integral interval when proving containment / emptiness (e.g. 1 <= plan_tier <= 3).
MAX_ENUMERATED_POINTS = 64

Literal = int | float | str | bool


class RuleSyntaxError(SeglibError):
    """A rule expression does not follow the grammar; the message names the rule and the position."""

    def __init__(self, rule: str, text: str, position: int, problem: str) -> None:
        self.rule, self.text, self.position, self.problem = rule, text, position, problem
        super().__init__(f"{rule}: syntax error at position {position + 1} of {text!r}: {problem}")


class RuleValidationError(SeglibError):
    """The rule set is invalid; ``problems`` lists every problem, each prefixed with ``family/segment``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"invalid rule set ({len(problems)} problem(s)):\n" + "\n".join(f"  {p}" for p in problems))


# ------------------------------------------------------------------------------------------------------------ AST
@dataclass(frozen=True)
class Percentile:
    """``pNN(column)``: the approximate NN-th percentile of ``column`` over the assigned frame (an unknown constant
    until data is read)."""

    q: int
    column: str
    pos: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        return f"p{self.q}({self.column})"


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    value: Literal | Percentile
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Literal, ...]
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool = False
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | InList | IsNull | And | Or | Not
Atom = Compare | InList | IsNull

# ----------------------------------------------------------------------------------------------------------- parser
_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<string>'[^']*'|"[^"]*")
    |(?P<op><=|>=|!=|=|<|>)
    |(?P<punct>[(),])
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
_PERCENTILE = re.compile(r"^[pP](\d{1,2})$")
_NEGATED_OP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "=": "!=", "!=": "="}


@dataclass(frozen=True)
class _Token:
    kind: str  # number | string | op | punct | ident | keyword | end
    text: str
    pos: int


def _tokenize(text: str, rule: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            problem = f"unexpected character {text[pos]!r}"
            if text[pos] in "'\"":
                problem = "unterminated quoted text"
            raise RuleSyntaxError(rule, text, pos, problem)
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "ident" and word.lower() in _KEYWORDS:
                kind, word = "keyword", word.lower()
            tokens.append(_Token(kind, word, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the grammar in the module docstring."""

    def __init__(self, text: str, rule: str) -> None:
        self.text, self.rule = text, rule
        self.tokens = _tokenize(text, rule)
        self.i = 0

    def error(self, problem: str, tok: _Token | None = None) -> RuleSyntaxError:
        tok = tok or self.peek()
        found = "the end of the rule" if tok.kind == "end" else repr(tok.text)
        return RuleSyntaxError(self.rule, self.text, tok.pos, f"{problem}, found {found}")

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        tok = self.peek()
        if tok.kind == kind and (text is None or tok.text == text):
            return self.take()
        return None

    def expect(self, kind: str, text: str, what: str) -> _Token:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.error(f"expected {what}")
        return tok

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.error("expected a condition")
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.error("expected 'and', 'or' or the end of the rule")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.accept("keyword", "or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.accept("keyword", "and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.accept("keyword", "not"):
            return Not(self.not_expr())
        if self.accept("punct", "("):
            node = self.or_expr()
            self.expect("punct", ")", "')'")
            return node
        return self.predicate()

    def predicate(self) -> Node:
        tok = self.peek()
        if tok.kind != "ident":
            raise self.error("expected a column name, 'not' or '('")
        self.take()
        column, pos = tok.text, tok.pos
        if (op := self.accept("op")) is not None:
            return Compare(column, op.text, self.value(allow_percentile=True), pos)
        if self.accept("keyword", "is"):
            negated = self.accept("keyword", "not") is not None
            self.expect("keyword", "null", "'null'")
            return IsNull(column, negated, pos)
        negated = self.accept("keyword", "not") is not None
        if self.accept("keyword", "in"):
            self.expect("punct", "(", "'(' after 'in'")
            values = [self.value(allow_percentile=False)]
            while self.accept("punct", ","):
                values.append(self.value(allow_percentile=False))
            self.expect("punct", ")", "',' or ')'")
            return InList(column, tuple(values), negated, pos)
        if negated:
            raise self.error("expected 'in' after 'not'")
        raise self.error(f"expected a comparison operator (< <= > >= = !=), 'in' or 'is' after column {column!r}")

    @overload
    def value(self, allow_percentile: Exactly[False]) -> Literal: ...
    @overload
    def value(self, allow_percentile: bool) -> Literal | Percentile: ...
    def value(self, allow_percentile: bool) -> Literal | Percentile:
        tok = self.peek()
        if tok.kind == "number":
            self.take()
            number = float(tok.text)
            # Integers stay int (exact comparisons on bigint columns); anything with '.'/exponent is a double.
            return int(tok.text) if re.fullmatch(r"-?\d+", tok.text) else number
        if tok.kind == "string":
            self.take()
            return tok.text[1:-1]
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            self.take()
            return tok.text == "true"
        if tok.kind == "ident" and (m := _PERCENTILE.match(tok.text)) and self.peek(1).text == "(":
            if not allow_percentile:
                raise self.error("percentiles are not allowed in an 'in' list")
            q = int(m.group(1))
            if not 1 <= q <= 99:
                raise self.error("a percentile must be p1 .. p99")
            self.take()
            self.take()
            col = self.peek()
            if col.kind != "ident":
                raise self.error("expected a column name inside the percentile")
            self.take()
            self.expect("punct", ")", "')' after the percentile's column")
            return Percentile(q, col.text, col.pos)
        what = "a number, quoted text, true/false" + (" or a percentile pNN(column)" if allow_percentile else "")
        raise self.error(f"expected {what}")


def parse_rule(text: str, rule: str = "<rule>") -> Node:
    """Parse a rule expression (grammar in the module docstring); raises :class:`RuleSyntaxError` naming ``rule``."""
    return _Parser(text, rule).parse()


def walk(node: Node) -> list[Atom]:
    """The atoms (predicates) of an expression, left to right."""
    if isinstance(node, And | Or):
        return [a for item in node.items for a in walk(item)]
    if isinstance(node, Not):
        return walk(node.item)
    return [node]


def percentiles_of(node: Node) -> list[Percentile]:
    """The percentile thresholds an expression uses."""
    return [a.value for a in walk(node) if isinstance(a, Compare) and isinstance(a.value, Percentile)]


# ------------------------------------------------------------------------------------------------------------ types
_INTEGRAL = {"tinyint", "smallint", "int", "integer", "bigint", "long", "short", "byte"}
_FRACTIONAL = {"float", "double", "real"}


def type_class(spark_type: str) -> str:
    """numeric | string | boolean | date | other, from a Spark simple type name ("double", "decimal(18,2)", ...)."""
    t = spark_type.strip().lower()
    if t in _INTEGRAL or t in _FRACTIONAL or t.startswith("decimal"):
        return "numeric"
    if t == "string" or t.startswith(("varchar", "char")):
        return "string"
    if t == "boolean":
        return t
    if t == "date":
        return t
    return "other"


def _is_integral(spark_type: str) -> bool:
    return spark_type.strip().lower() in _INTEGRAL


def _literal_kind(value: Literal) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "numeric"
    return "string"


def _describe(value: Literal | Percentile) -> str:
    if isinstance(value, Percentile):
        return value.key
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _type_problems(atom: Atom, schema: Mapping[str, str]) -> list[str]:
    """Unknown columns and type mismatches of one predicate."""
    problems = []

    def known(column: str, pos: int) -> bool:
        if column in schema:
            return True
        close = difflib.get_close_matches(column, list(schema), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        problems.append(f"unknown column {column!r} at position {pos + 1}{hint}")
        return False

    if not known(atom.column, atom.pos):
        if isinstance(atom, Compare) and isinstance(atom.value, Percentile):
            known(atom.value.column, atom.value.pos)
        return problems
    ctype = schema[atom.column]
    kind = type_class(ctype)
    col = f"column {atom.column!r} ({ctype})"
    if isinstance(atom, IsNull):
        return problems
    if kind == "other":
        return [f"{col} only supports 'is null' / 'is not null'"]
    op = atom.op if isinstance(atom, Compare) else "in"
    values = [atom.value] if isinstance(atom, Compare) else list(atom.values)
    if op in ("<", "<=", ">", ">=") and kind in ("string", "boolean"):
        problems.append(f"ordering comparison {op!r} on {col}: only =, !=, in and is null apply")
    for v in values:
        if isinstance(v, Percentile):
            if known(v.column, v.pos):
                ptype = schema[v.column]
                if type_class(ptype) != "numeric":
                    problems.append(f"percentile {v.key} of non-numeric column {v.column!r} ({ptype})")
                elif kind != "numeric":
                    problems.append(f"{col} compared with the numeric percentile {v.key}")
            continue
        lk = _literal_kind(v)
        if kind == "date":
            if lk != "string" or _parse_date(str(v)) is None:
                problems.append(f"{col} needs a 'YYYY-MM-DD' date, got {_describe(v)}")
        elif lk != kind:
            what = {"numeric": "number", "string": "string literal", "boolean": "boolean"}[lk]
            problems.append(f"{what} {_describe(v)} compared with {col}")
    return problems


# ------------------------------------------------------------------------------------------------- boxes (analysis)
@dataclass(frozen=True)
class _Bound:
    value: float | int | Percentile
    strict: bool


def _cmp(a: float | int | Percentile, b: float | int | Percentile) -> str | None:
    """What is provable about a vs b: '<', '=', '>', '<=', '>=' or None (unknown)."""
    if isinstance(a, Percentile) or isinstance(b, Percentile):
        if isinstance(a, Percentile) and isinstance(b, Percentile) and a.column == b.column:
            # Percentiles of one column are monotone in q but may coincide: never strictly ordered.
            return "=" if a.q == b.q else ("<=" if a.q < b.q else ">=")
        return None
    return "<" if a < b else ("=" if a == b else ">")


@dataclass
class _Col:
    """The constraint a conjunction puts on one column (values are numbers, date ordinals, strings or booleans)."""

    ordered: bool
    integral: bool
    domain: frozenset[Any] | None = None  # finite domain (boolean columns)
    is_null: bool = False
    not_null: bool = False
    lowers: list[_Bound] = field(default_factory=list)
    uppers: list[_Bound] = field(default_factory=list)
    excluded: set[Any] = field(default_factory=set)
    allowed: frozenset[Any] | None = None

    def restrict(self, values: frozenset[Any]) -> None:
        self.allowed = values if self.allowed is None else self.allowed & values

    def normalise(self) -> None:
        if self.not_null and self.domain is not None:
            self.restrict(self.domain)
        if self.integral:
            # x > 2.5 is x >= 3 on an integer column: inclusive integer bounds make containment exact.
            self.lowers = [_int_bound(b, lower=True) for b in self.lowers]
            self.uppers = [_int_bound(b, lower=False) for b in self.uppers]
            if self.allowed is not None:
                self.allowed = frozenset(v for v in self.allowed if float(v).is_integer())

    def point_status(self, p: Any) -> bool | None:
        """True: p surely satisfies every value constraint; False: surely not; None: unknown (percentile bound)."""
        if (self.allowed is not None and p not in self.allowed) or p in self.excluded:
            return False
        status: bool | None = True
        for b, lower in [(b, True) for b in self.lowers] + [(b, False) for b in self.uppers]:
            if isinstance(b.value, Percentile):
                status = None
                continue
            ok = (p > b.value if b.strict else p >= b.value) if lower else (p < b.value if b.strict else p <= b.value)
            if not ok:
                return False
        return status

    def literal_range(self) -> tuple[_Bound | None, _Bound | None]:
        lo = max((b for b in self.lowers if not isinstance(b.value, Percentile)), default=None, key=_tightness)
        hi = min((b for b in self.uppers if not isinstance(b.value, Percentile)), default=None, key=_looseness)
        return lo, hi

    def candidates(self) -> set[Any] | None:
        """A finite superset of the values allowed (None when it is not known to be finite)."""
        if self.allowed is not None:
            pool: set[Any] = set(self.allowed)
        else:
            lo, hi = self.literal_range()
            if lo is None or hi is None:
                return None
            low, high = _bound_value(lo), _bound_value(hi)
            if self.integral and high - low < MAX_ENUMERATED_POINTS:
                pool = set(range(int(low), int(high) + 1))
            elif low == high and not (lo.strict or hi.strict):
                pool = {low}
            else:
                return None
        return {p for p in pool if self.point_status(p) is not False}

    def empty(self) -> bool:
        """Provably no value (or null) satisfies the constraint."""
        if self.is_null and self.not_null:
            return True
        cands = self.candidates()
        if cands is not None and not cands:
            return True
        for lo in self.lowers:
            for hi in self.uppers:
                c = _cmp(lo.value, hi.value)
                if c == ">" or (c in ("=", ">=") and (lo.strict or hi.strict)):
                    return True
        return False

    def nonempty(self) -> bool:
        """Provably some value (or null) satisfies the constraint (percentiles assumed defined)."""
        if self.empty():
            return False
        if self.is_null:
            return True
        cands = self.candidates()
        if cands is not None:
            return any(self.point_status(p) is True for p in cands)
        if self.allowed is not None:
            return False
        if not self.ordered:
            return True  # a string outside a finite excluded set exists
        if not self.lowers or not self.uppers:
            return True  # an unbounded ray minus finitely many points
        if any(isinstance(b.value, Percentile) for b in self.lowers + self.uppers):
            return False  # bounded on both sides with a symbolic bound: the interval may be empty
        lo, hi = self.literal_range()
        if lo is None or hi is None:
            return False
        if self.integral:
            return _bound_value(hi) - _bound_value(lo) + 1 > len(self.excluded)
        return _bound_value(lo) < _bound_value(hi)


def _bound_value(b: _Bound) -> float | int:
    """The value of a bound of :meth:`_Col.literal_range` (which leaves the percentiles out)."""
    if isinstance(b.value, Percentile):
        raise TypeError(f"a literal bound was expected, not {b.value.key}")
    return b.value


def _tightness(b: _Bound) -> tuple[float, int]:
    return (b.value, int(b.strict))  # type: ignore[return-value]


def _looseness(b: _Bound) -> tuple[float, int]:
    return (b.value, -int(b.strict))  # type: ignore[return-value]


def _int_bound(b: _Bound, lower: bool) -> _Bound:
    if isinstance(b.value, Percentile):
        return b
    v = b.value
    if lower:
        return _Bound(math.floor(v) + 1 if b.strict else math.ceil(v), False)
    return _Bound(math.ceil(v) - 1 if b.strict else math.floor(v), False)


def _implies_lower(a: _Bound, b: _Bound) -> bool:
    """x above a implies x above b."""
    c = _cmp(a.value, b.value)
    return c == ">" or (c == "=" and (a.strict or not b.strict)) or (c == ">=" and not b.strict)


def _implies_upper(a: _Bound, b: _Bound) -> bool:
    """x below a implies x below b."""
    c = _cmp(a.value, b.value)
    return c == "<" or (c == "=" and (a.strict or not b.strict)) or (c == "<=" and not b.strict)


def _col_contained(a: _Col | None, b: _Col) -> bool:
    """Provably every value allowed by a (None: any value, null included) is allowed by b."""
    if a is None:
        return False  # b constrains the column (it only exists when a predicate named it)
    if b.is_null:
        return a.is_null
    if not a.not_null:
        return False  # b requires a value; a allows null
    cands = a.candidates()
    if cands is not None:
        return all(b.point_status(p) is True for p in cands)
    if b.allowed is not None:
        return False
    return (
        all(any(_implies_lower(x, lb) for x in a.lowers) for lb in b.lowers)
        and all(any(_implies_upper(x, ub) for x in a.uppers) for ub in b.uppers)
        and all(e in a.excluded or a.point_status(e) is False for e in b.excluded)
    )


@dataclass
class _Box:
    """One DNF conjunction: per-column constraints. ``exact`` is False when an atom could only be dropped (the box is
    then a superset of the conjunction: fine for emptiness/containment as the smaller side, nothing else)."""

    atoms: tuple[Atom, ...]
    cols: dict[str, _Col]
    exact: bool

    def empty(self) -> bool:
        return any(c.empty() for c in self.cols.values())

    def within(self, other: _Box) -> bool:
        """Provably every subject in this box is in ``other``."""
        if self.empty():
            return True
        return other.exact and all(_col_contained(self.cols.get(name), c) for name, c in other.cols.items())


def _to_value(v: Literal | Percentile, ctype: str) -> Any:
    if isinstance(v, str) and type_class(ctype) == "date":
        d = _parse_date(v)
        return d.toordinal() if d else v
    return v


def _box(atoms: tuple[Atom, ...], schema: Mapping[str, str]) -> _Box:
    cols: dict[str, _Col] = {}
    exact = True
    for atom in atoms:
        ctype = schema[atom.column]
        kind = type_class(ctype)
        c = cols.get(atom.column)
        if c is None:
            c = cols[atom.column] = _Col(
                ordered=kind in ("numeric", "date"),
                integral=_is_integral(ctype) or kind == "date",
                domain=frozenset({True, False}) if kind == "boolean" else None,
            )
        if isinstance(atom, IsNull):
            if atom.negated:
                c.not_null = True
            else:
                c.is_null = True
            continue
        c.not_null = True
        if isinstance(atom, InList):
            values = frozenset(_to_value(v, ctype) for v in atom.values)
            if atom.negated:
                c.excluded |= values
            else:
                c.restrict(values)
            continue
        v = _to_value(atom.value, ctype)
        if atom.op == "!=":
            if isinstance(v, Percentile):
                exact = False  # x != p50(x) is no box: dropping it over-approximates
            else:
                c.excluded.add(v)
        elif not c.ordered:
            c.restrict(frozenset({v}))
        else:
            if atom.op in (">", ">=", "="):
                c.lowers.append(_Bound(v, atom.op == ">"))
            if atom.op in ("<", "<=", "="):
                c.uppers.append(_Bound(v, atom.op == "<"))
    for c in cols.values():
        c.normalise()
    return _Box(atoms, cols, exact)


class _TooComplex(Exception):
    pass


def _nnf(node: Node, negate: bool = False) -> Node:
    """Push ``not`` down to the atoms (exact under three-valued logic, see the module docstring)."""
    if isinstance(node, Not):
        return _nnf(node.item, not negate)
    if isinstance(node, And | Or):
        items = tuple(_nnf(i, negate) for i in node.items)
        return (Or if isinstance(node, And) else And)(items) if negate else type(node)(items)
    if not negate:
        return node
    if isinstance(node, Compare):
        return Compare(node.column, _NEGATED_OP[node.op], node.value, node.pos)
    if isinstance(node, InList):
        return InList(node.column, node.values, not node.negated, node.pos)
    return IsNull(node.column, not node.negated, node.pos)


def _dnf(node: Node) -> list[tuple[Atom, ...]]:
    if isinstance(node, Or):
        terms = [t for item in node.items for t in _dnf(item)]
    elif isinstance(node, And):
        terms = [()]
        for item in node.items:
            terms = [a + b for a in terms for b in _dnf(item)]
            if len(terms) > MAX_DNF_TERMS:
                raise _TooComplex
    else:
        return [(node,)]  # type: ignore[list-item]
    if len(terms) > MAX_DNF_TERMS:
        raise _TooComplex
    return terms


def _boxes(node: Node, schema: Mapping[str, str]) -> list[_Box]:
    """The non-empty boxes of a rule (too complex: one inexact box of everything)."""
    try:
        boxes = [_box(t, schema) for t in _dnf(_nnf(node))]
    except _TooComplex:
        return [_Box((), {}, exact=False)]
    return [b for b in boxes if not b.empty()]


def _overlap(a: list[_Box], b: list[_Box], schema: Mapping[str, str]) -> str:
    """disjoint | overlap | unknown for two rules' boxes."""
    verdict = "disjoint"
    for x in a:
        for y in b:
            both = _box(x.atoms + y.atoms, schema)
            if both.empty():
                continue
            if x.exact and y.exact and both.exact and all(c.nonempty() for c in both.cols.values()):
                return "overlap"
            verdict = "unknown"
    return verdict


# ------------------------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class ParsedRule:
    family: str
    config: RuleConfig
    node: Node
    index: int  # position in the family's list (ties of priority keep it)

    @property
    def label(self) -> str:
        return f"{self.family}/{self.config.name}"


@dataclass(frozen=True)
class ValidatedRules:
    """A rule set that passed :func:`validate_rules`: parsed rules per family (in evaluation order) and the schema."""

    rules: RuleSetConfig
    schema: dict[str, str]
    families: dict[str, list[ParsedRule]]

    def percentiles(self) -> list[Percentile]:
        """Every distinct percentile threshold of the rule set (computed in one aggregation)."""
        seen: dict[str, Percentile] = {}
        for parsed in self.families.values():
            for r in parsed:
                for p in percentiles_of(r.node):
                    seen.setdefault(p.key, p)
        return list(seen.values())


def schema_of(df: DataFrame) -> dict[str, str]:
    """Column -> Spark simple type name of a DataFrame (no data is read)."""
    return {f.name: f.dataType.simpleString() for f in df.schema.fields}


def _window_problems(name: str, w: WindowConfig, schema: Mapping[str, str]) -> list[str]:
    out = []
    if not re.fullmatch(IDENTIFIER, name):
        out.append(f"window {name!r}: the name must be a column name ([A-Za-z_][A-Za-z0-9_]*)")
    for key, value in (("event_type", w.event_type), ("without", w.without)):
        if value is not None and value not in EVENT_TYPES:
            close = difflib.get_close_matches(value, EVENT_TYPES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"window {name!r}: unknown {key} {value!r}{hint}")
    if w.without is not None and w.without == w.event_type:
        out.append(f"window {name!r}: 'without' equals event_type (every event follows itself: always 0)")
    if name in schema and not _is_integral(schema[name]):
        out.append(f"window {name!r} collides with the column {name!r} ({schema[name]})")
    return out


def _family_problems(fname: str, family: FamilyConfig) -> list[str]:
    out = []
    if not re.fullmatch(IDENTIFIER, fname):
        out.append(f"{fname}: the family name must be a column-name suffix ([A-Za-z_][A-Za-z0-9_]*)")
    if not family.rules:
        out.append(f"{fname}: empty family (no rules)")
    if family.fallback is not None and not family.exclusive:
        out.append(f"{fname}: fallback {family.fallback!r} only applies to exclusive families")
    names = [r.name for r in family.rules] + ([family.fallback] if family.fallback and family.exclusive else [])
    for dup in sorted({n for n in names if names.count(n) > 1}):
        out.append(f"{fname}/{dup}: duplicate segment name in the family")
    return out


def _analysis_problems(
    fname: str, family: FamilyConfig, parsed: list[ParsedRule], schema: Mapping[str, str]
) -> list[str]:
    """Never-matching, unreachable and overlapping rules of one family (see the module docstring)."""
    out = []
    boxes = {r.index: _boxes(r.node, schema) for r in parsed}
    for r in parsed:
        if not boxes[r.index]:
            out.append(f"{r.label}: unreachable rule: its condition can never be true")
    if not family.exclusive:
        return out
    for r in parsed:
        mine = boxes[r.index]
        higher = [h for h in parsed if h.config.priority < r.config.priority and boxes[h.index]]
        if not mine or not higher:
            continue
        covering = []
        for box in mine:
            by = next((h for h in higher if any(box.within(hb) for hb in boxes[h.index])), None)
            if by is None:
                break
            covering.append(by.config.name)
        else:
            names = ", ".join(repr(n) for n in dict.fromkeys(covering))
            out.append(
                f"{r.label}: unreachable rule: every subject it matches is taken by higher-priority rule(s) {names}"
            )
    for i, a in enumerate(parsed):
        for b in parsed[i + 1 :]:
            if a.config.priority != b.config.priority:
                continue
            verdict = _overlap(boxes[a.index], boxes[b.index], schema)
            if verdict == "overlap":
                out.append(
                    f"{a.label}: overlapping exclusive rules: {a.config.name!r} and {b.config.name!r} share priority "
                    f"{a.config.priority} and can both match; give them different priorities"
                )
            elif verdict == "unknown":
                out.append(
                    f"{a.label}: duplicate priority {a.config.priority} with {b.config.name!r}: the rules cannot be "
                    "proven disjoint before data; give them different priorities"
                )
    return out


def validate_rules(rules: RuleSetConfig, schema: Mapping[str, str]) -> ValidatedRules:
    """Check a rule set against a column -> Spark type schema without reading data; every problem is collected and
    raised in one :class:`RuleValidationError`. Declared windows are columns (bigint) of the schema."""
    full = {name: "bigint" for name in rules.windows} | dict(schema)
    problems: list[str] = []
    for name, w in rules.windows.items():
        problems += _window_problems(name, w, schema)
    families: dict[str, list[ParsedRule]] = {}
    for fname, family in rules.families.items():
        problems += _family_problems(fname, family)
        parsed, clean = [], True
        for index, rc in enumerate(family.rules):
            label = f"{fname}/{rc.name}"
            try:
                node = parse_rule(rc.when, label)
            except RuleSyntaxError as exc:
                problems.append(str(exc))
                clean = False
                continue
            typed = [p for atom in walk(node) for p in _type_problems(atom, full)]
            problems += [f"{label}: {p}" for p in typed]
            clean = clean and not typed
            parsed.append(ParsedRule(fname, rc, node, index))
        parsed.sort(key=lambda r: (r.config.priority, r.index))
        families[fname] = parsed
        if clean and parsed:
            problems += _analysis_problems(fname, family, parsed, full)
    if problems:
        raise RuleValidationError(problems)
    return ValidatedRules(rules=rules, schema=full, families=families)


# ---------------------------------------------------------------------------------------------------------- compile
def compute_percentiles(features: DataFrame, validated: ValidatedRules) -> dict[str, float | None]:
    """Every ``pNN(column)`` of the rule set in ONE aggregation (one row reaches the driver); key ``pNN(column)``,
    value null when the column has no non-null value."""
    wanted = validated.percentiles()
    if not wanted:
        return {}
    accuracy = validated.rules.percentile_accuracy
    row = features.agg(
        *[
            F.percentile_approx(F.col(p.column).cast("double"), p.q / 100, accuracy).alias(f"_p{i}")
            for i, p in enumerate(wanted)
        ]
    ).first()
    return {p.key: (None if row is None or row[i] is None else float(row[i])) for i, p in enumerate(wanted)}


def _literal(value: Literal | Percentile, ctype: str, percentiles: Mapping[str, float | None]) -> Column:
    if isinstance(value, Percentile):
        if value.key not in percentiles:
            raise SeglibError(f"percentile {value.key} was not computed (compute_percentiles)")
        resolved = percentiles[value.key]
        return F.lit(resolved).cast("double")
    if isinstance(value, str) and type_class(ctype) == "date":
        return F.lit(_parse_date(value))
    return F.lit(value)


def rule_column(node: Node, schema: Mapping[str, str], percentiles: Mapping[str, float | None]) -> Column:
    """The boolean Spark Column of one rule (built-in expressions; percentiles substituted as literals)."""
    if isinstance(node, And):
        return reduce(lambda a, b: a & b, [rule_column(i, schema, percentiles) for i in node.items])
    if isinstance(node, Or):
        return reduce(lambda a, b: a | b, [rule_column(i, schema, percentiles) for i in node.items])
    if isinstance(node, Not):
        return ~rule_column(node.item, schema, percentiles)
    col = F.col(node.column)
    if isinstance(node, IsNull):
        return col.isNotNull() if node.negated else col.isNull()
    ctype = schema[node.column]
    if isinstance(node, InList):
        member = col.isin(*[_literal(v, ctype, percentiles) for v in node.values])
        return ~member if node.negated else member
    v = _literal(node.value, ctype, percentiles)
    ops = {
        "<": col < v,
        "<=": col <= v,
        ">": col > v,
        ">=": col >= v,
        "=": col == v,
        "!=": col != v,
    }
    return ops[node.op]


def _family_metadata(fname: str, family: FamilyConfig) -> dict[str, Any]:
    return {
        METADATA_KEY: {
            "family": fname,
            "exclusive": family.exclusive,
            "description": family.description,
            "fallback": family.fallback,
            "segments": {
                r.name: {"when": r.when, "priority": r.priority, "description": r.description} for r in family.rules
            },
        }
    }


def compile_rules(validated: ValidatedRules, percentiles: Mapping[str, float | None]) -> dict[str, Column]:
    """``rule_<family>`` -> its Column: exclusive families a CASE WHEN by priority ELSE fallback (string), the others
    an array<string> of every matching rule's name. Each column's metadata holds the family's definitions."""
    out = {}
    for fname, parsed in validated.families.items():
        family = validated.rules.families[fname]
        conds = [(r.config.name, rule_column(r.node, validated.schema, percentiles)) for r in parsed]
        if family.exclusive:
            expr = None
            for name, cond in conds:
                expr = F.when(cond, F.lit(name)) if expr is None else expr.when(cond, F.lit(name))
            fallback = F.lit(family.fallback).cast("string")
            column = fallback if expr is None else expr.otherwise(fallback)
        else:
            # when() without otherwise() is null for FALSE and NULL conditions; array_compact drops those (3.4+).
            column = F.array_compact(F.array(*[F.when(cond, F.lit(name)) for name, cond in conds]))
        column_name = f"{FAMILY_COLUMN_PREFIX}{fname}"
        out[column_name] = column.alias(column_name, metadata=_family_metadata(fname, family))
    return out


# ---------------------------------------------------------------------------------------------------- event windows
def event_window_counts(events: DataFrame, as_of: date, windows: Mapping[str, WindowConfig]) -> DataFrame:
    """Per subject with a relevant event, one bigint column per window: events of ``event_type`` in
    [cut-off - days, cut-off) (the cut-off is as_of 00:00 UTC; an event at the cut-off is excluded), and with
    ``without`` only those not followed by a ``without`` event at or after them before the cut-off. One grouped pass;
    subjects without a relevant event have no row (their counts are 0)."""
    if not windows:
        raise ValueError("event_window_counts needs at least one window")
    ts, etype = F.col("event_ts"), F.col("event_type")
    types = sorted({w.event_type for w in windows.values()} | {w.without for w in windows.values() if w.without})
    longest = max(w.days for w in windows.values())
    kept = events.where(
        before_cutoff(ts, as_of)
        & in_last_days(ts, as_of, longest)
        & F.col("subject_id").isNotNull()
        & etype.isin(*types)
    )
    aggs, derived = [], {}
    for name, w in windows.items():
        in_window = in_last_days(ts, as_of, w.days)
        counted = in_window & (etype == w.event_type)
        if w.without is None:
            aggs.append(F.sum(F.when(counted, 1).otherwise(0)).cast("long").alias(name))
            continue
        # An event is followed by a `without` event iff the last such event in the window is at or after it: the
        # timestamps of the window's events (collect_list skips the nulls of when()) against that one maximum.
        stamps, last = f"_{name}_ts", f"_{name}_last_without"
        aggs += [
            F.collect_list(F.when(counted, ts)).alias(stamps),
            F.max(F.when(in_window & (etype == w.without), ts)).alias(last),
        ]
        derived[name] = F.size(F.filter(F.col(stamps), _after(F.col(last)))).cast("long")
    out = kept.groupBy("subject_id").agg(*aggs)
    if derived:
        out = out.withColumns(derived)
    return out.select("subject_id", *windows)


def _after(last: Column) -> Any:
    """Lambda for F.filter: an instant strictly after ``last`` (or no ``last``). F.filter reads the lambda's arity,
    so the column is bound by a closure rather than a default argument."""
    return lambda t: last.isNull() | (t > last)


# ------------------------------------------------------------------------------------------------------- entry point
def assign_rule_segments(
    features: DataFrame,
    rules: RuleSetConfig,
    *,
    events: DataFrame | None = None,
    as_of: date | None = None,
) -> tuple[DataFrame, dict[str, float | None]]:
    """Add ``rule_<family>`` per family to ``features`` (one row per subject); returns the frame and the percentile
    thresholds used (``pNN(column)`` -> value, to log with the run).

    With ``events`` and ``as_of`` the declared windows are computed (:func:`event_window_counts`) and left-joined on
    subject_id (0 for subjects without such events); without them the window columns must already be in
    ``features``. The rule set is validated against the frame's schema before any data is read."""
    base = features
    if rules.windows:
        if events is not None:
            if as_of is None:
                raise ValueError("assign_rule_segments: as_of is required with events")
            base = features.drop(*rules.windows)
            counts = event_window_counts(events, as_of, rules.windows)
            features = base.join(counts, "subject_id", "left").fillna(0, list(rules.windows))
        else:
            missing = [w for w in rules.windows if w not in features.columns]
            if missing:
                raise SeglibError(f"rule windows {missing} are not columns of the features: pass events= and as_of=")
    validated = validate_rules(rules, schema_of(features))
    # Percentiles of feature columns need not wait for the event windows (a left join is never pruned away).
    on_windows = any(p.column in rules.windows for p in validated.percentiles())
    percentiles = compute_percentiles(features if on_windows else base, validated)
    return features.withColumns(compile_rules(validated, percentiles)), percentiles


def expression_column(df: DataFrame, when: str, label: str) -> Column:
    """One boolean expression of the rule grammar over ``df`` (e.g. segments.sparse_when), validated like a rule
    (errors name ``label``) with its percentiles computed; null counts as false."""
    family = FamilyConfig(exclusive=True, rules=[RuleConfig(name=label, when=when)])
    validated = validate_rules(RuleSetConfig(families={"expression": family}), schema_of(df))
    rule = validated.families["expression"][0]
    percentiles = compute_percentiles(df, validated)
    return F.coalesce(rule_column(rule.node, validated.schema, percentiles), F.lit(False))
