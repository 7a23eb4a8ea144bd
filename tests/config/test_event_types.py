"""The event types are declared once, seglib.config.rules.EVENT_TYPES; every other place derives from it or names
members of it. These tests fail when one drifts: the ingest rule, the contract's documentation, the generator, and
every event-type literal in seglib's code and packaged config."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from seglib.config import DEFAULT_CONFIG, ConfigError, load_config
from seglib.config.ingest import VOCABULARIES, RuleSpec, Vocabulary
from seglib.config.models import SeglibConfig
from seglib.config.rules import EVENT_TYPES

SEGLIB = Path(__file__).resolve().parents[2] / "seglib"
# Deliberately not event types: the generator's defects (rows ingest must quarantine).
NOT_EVENT_TYPES = {"UNKNOWN_EVENT_TYPES"}
# SQL in strings: event_type = 'x', event_type != 'x', event_type IN ('x', 'y').
SQL_COMPARE = re.compile(r"\bevent_type\s*(?:=|!=|<>)\s*'([^']*)'", re.IGNORECASE)
SQL_IN = re.compile(r"\bevent_type\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.IGNORECASE)


def _is_event_type(node: ast.AST) -> bool:
    """``etype`` / ``event_type`` variables and ``F.col("event_type")``."""
    if isinstance(node, ast.Name):
        return node.id in {"etype", "event_type"}
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "col"
        and [a.value for a in node.args if isinstance(a, ast.Constant)] == ["event_type"]
    )


def _strings(nodes) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _sql_types(text: str) -> list[str]:
    found = SQL_COMPARE.findall(text)
    for group in SQL_IN.findall(text):
        found += re.findall(r"'([^']*)'", group)
    return found


def event_type_literals(source: str) -> list[str]:
    """The event types one module names: arguments of ``_type_is``, ``<event type>.isin(...)``, comparisons with an
    event type, ``*_TYPES`` / ``*_EVENTS`` tuples, and SQL strings comparing ``event_type``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            type_is = isinstance(func, ast.Name) and func.id == "_type_is"
            if type_is or (isinstance(func, ast.Attribute) and func.attr == "isin" and _is_event_type(func.value)):
                found += _strings(node.args)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            left, right = node.left, node.comparators[0]
            if _is_event_type(left) or _is_event_type(right):
                found += _strings([left, right])
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(n.endswith(("_TYPES", "_EVENTS")) and n not in NOT_EVENT_TYPES for n in names):
                found += _strings(node.value.elts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += _sql_types(node.value)
    return found


def test_the_declaration_names_distinct_lowercase_identifiers():
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES) > 0
    assert all(re.fullmatch(r"[a-z][a-z_]*", t) for t in EVENT_TYPES), EVENT_TYPES


def test_the_packaged_ingest_rule_references_the_declaration_instead_of_repeating_it():
    text = (SEGLIB / "config" / "defaults" / "ingest.yaml").read_text()
    raw_events = yaml.safe_load(text)["ingest"]["rules"]["raw_events"]
    [declared] = [r for r in raw_events if r["kind"] == "allowed" and r.get("column") == "event_type"]
    assert declared.get("values_from") == "event_types" and "values" not in declared
    [rule] = [r for r in load_config([DEFAULT_CONFIG]).ingest.rules["raw_events"] if r.name == declared["name"]]
    assert rule.values == list(EVENT_TYPES)


def test_the_vocabulary_names_are_the_literal_values_from_accepts():
    assert set(get_args(Vocabulary)) == set(VOCABULARIES) and VOCABULARIES["event_types"] is EVENT_TYPES


def test_values_from_is_resolved_strictly():
    rule = {"name": "event_type_allowed", "kind": "allowed", "column": "event_type", "values_from": "event_types"}
    resolved = RuleSpec.model_validate(rule)
    assert resolved.values == list(EVENT_TYPES)
    assert RuleSpec.model_validate(resolved.model_dump()) == resolved  # a dumped config loads again
    with pytest.raises(ValueError, match="give values or values_from, not both"):
        RuleSpec.model_validate({**rule, "values": ["page_view"]})
    with pytest.raises(ValueError, match="values_from"):
        RuleSpec.model_validate({**rule, "values_from": "event_typs"})
    with pytest.raises(ValueError, match="values_from is for kind 'allowed'"):
        RuleSpec.model_validate({**rule, "kind": "pattern", "pattern": "^x$"})


def test_the_dumped_default_config_loads_again_unchanged():
    cfg = load_config([DEFAULT_CONFIG])
    assert SeglibConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_an_explicit_event_type_list_may_narrow_the_contract_but_not_widen_it():
    narrow = "ingest.rules.raw_events=[{name: t, kind: allowed, column: event_type, values: [purchase, login]}]"
    assert load_config([DEFAULT_CONFIG], [narrow]).ingest.rules["raw_events"][0].values == ["purchase", "login"]
    wide = "ingest.rules.raw_events=[{name: t, kind: allowed, column: event_type, values: [purchase, pageview]}]"
    with pytest.raises(ConfigError, match=r"rule 't' allows \['pageview'\], outside the events contract"):
        load_config([DEFAULT_CONFIG], [wide])


def test_the_contract_documents_the_declared_types():
    from seglib.tables import table

    [col] = [c for c in table("raw", "raw_events").columns if c.name == "event_type"]
    assert col.comment == f"{', '.join(EVENT_TYPES)}."


def test_the_generator_draws_every_declared_type():
    from seglib.generate.activity import ANONYMOUS_REPLACEMENTS
    from seglib.generate.profiles import MIX_TYPES, PROFILES

    # The mix holds the behavioural types; login and signup are placed where a visitor is identified.
    assert set(MIX_TYPES) <= set(EVENT_TYPES) and set(EVENT_TYPES) - set(MIX_TYPES) == {"login", "signup"}
    assert all(len(p.event_mix) == len(MIX_TYPES) for p in PROFILES)
    assert ANONYMOUS_REPLACEMENTS and {*ANONYMOUS_REPLACEMENTS, *ANONYMOUS_REPLACEMENTS.values()} <= set(MIX_TYPES)


def test_every_event_type_named_in_code_or_packaged_config_is_declared():
    named: dict[str, set[str]] = {}
    for path in sorted(SEGLIB.rglob("*.py")):
        for t in event_type_literals(path.read_text(encoding="utf-8")):
            named.setdefault(t, set()).add(str(path.relative_to(SEGLIB)))
    for path in sorted((SEGLIB / "config" / "defaults").glob("*.yaml")):
        for t in _sql_types(path.read_text(encoding="utf-8")):
            named.setdefault(t, set()).add(str(path.relative_to(SEGLIB)))
    cfg = load_config([DEFAULT_CONFIG])
    for w in cfg.rules.windows.values():
        for t in filter(None, (w.event_type, w.without)):
            named.setdefault(t, set()).add("config/defaults/segments.yaml")
    assert {t: sorted(where) for t, where in named.items() if t not in EVENT_TYPES} == {}
    # The scan sees what it is meant to see (a scan that finds nothing would pass).
    assert "features/events.py" in named["support_ticket"] and "segments/profiles.py" in named["email_click"]
    assert "generate/activity.py" in named["add_to_cart"] and "config/defaults/ingest.yaml" in named["purchase"]
    assert len(named) >= 10


def test_the_scan_finds_a_misspelt_type():
    source = 'x = F.col("event_type") == "purchse"\ny = _type_is("serach")\nCART_TYPES = ("add_to_crat",)\n'
    source += "q = \"event_type IN ('page_veiw', 'login')\"\n"
    assert sorted(event_type_literals(source)) == ["add_to_crat", "login", "page_veiw", "purchse", "serach"]
