"""The table registry: declarations are consistent, locations are derived right, and the docs are generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from seglib.config import SeglibConfig
from seglib.tables import (
    REGISTRY,
    Role,
    Warehouse,
    raw_input,
    spark_type,
    table,
    tables_markdown,
    with_contract_section,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("declared", list(REGISTRY.values()), ids=list(REGISTRY))
def test_declarations_are_consistent(declared):
    names = [c.name for c in declared.columns]
    assert len(names) == len(set(names))
    assert set(declared.keys) <= set(names) and set(declared.partition_by) <= set(names)
    assert all(c.comment for c in declared.columns)
    if declared.layer != "raw":  # raw identifiers and PII never leave the raw layer
        assert not declared.columns_with(Role.RAW_ID, Role.PII)
    else:
        assert not declared.owned


def test_locations_for_paths_uris_and_raw_overrides():
    cfg = SeglibConfig.model_validate(
        {"warehouse": {"path": "s3a://bucket/wh/", "catalog_schema": "mk.seg"}, "inputs": {"raw_events": "cat.ev"}}
    )
    wh = Warehouse.of(cfg)
    assert wh.location("silver/events") == "s3a://bucket/wh/silver/events"
    assert wh.location("raw/raw_events") == "cat.ev"
    assert wh.location(raw_input("raw_orders")) == "s3a://bucket/wh/raw/raw_orders"
    spec = wh.spec("models/cluster_assignments")
    assert (spec.register_as, tuple(spec.partition_by)) == ("mk.seg.cluster_assignments", ("snapshot_date",))
    assert spec.column_comments["subject_id"].startswith("Pseudonymous")
    assert wh.spec("raw/raw_events").register_as is None  # inputs are never registered by seglib
    with pytest.raises(KeyError, match="silver/nope is not declared"):
        table("silver", "nope")


def test_erasure_scope_is_every_owned_table_with_a_subject_column():
    erasable = sorted(t.qualified_name for t in REGISTRY.values() if t.erasable)
    assert erasable == [
        "features/subject_features",
        "models/cluster_assignments",
        "models/clv_predictions",
        "models/propensity_scores",
        "ops/quarantine",
        "segments/segment_membership",
        "segments/segment_membership_history",
        "segments/segment_transitions",
        "silver/consents",
        "silver/customers",
        "silver/customers_history",
        "silver/events",
        "silver/identity_map",
        "silver/orders",
        "silver/texts",
    ]


def test_config_names_the_same_raw_inputs_as_the_registry():
    from typing import get_args

    from seglib.config.ingest import RawTableName
    from seglib.tables import RAW_INPUTS

    assert get_args(RawTableName) == RAW_INPUTS


def test_declared_types_parse_without_a_session():
    assert spark_type("map<string,string>").simpleString() == "map<string,string>"
    assert spark_type("decimal(18, 2)").simpleString() == "decimal(18,2)"
    assert spark_type("array<string>").simpleString() == "array<string>"
    nested = "array<struct<name:string,lift:map<string,double>,n:bigint>>"
    assert spark_type(nested).simpleString() == nested
    with pytest.raises(ValueError, match="unsupported declared type"):
        spark_type("struct<a:float>")


def test_generated_docs_are_current():
    """Run `python -m seglib.tables` after changing a declaration."""
    assert (REPO / "docs" / "tables.md").read_text() == tables_markdown()
    readme = (REPO / "README.md").read_text()
    assert with_contract_section(readme) == readme
