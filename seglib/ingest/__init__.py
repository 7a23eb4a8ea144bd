"""Ingest stage: raw Delta tables -> validated, de-duplicated, pseudonymous silver tables (+ quarantine, DQ metrics)."""

from __future__ import annotations

from seglib.errors import MissingInputError
from seglib.ingest.contract import IngestError, InvariantError, MissingColumnError
from seglib.ingest.rules import Rule, compile_rule, with_rule_failures
from seglib.ingest.run import IngestReport, run_ingest

__all__ = [
    "IngestError",
    "IngestReport",
    "InvariantError",
    "MissingColumnError",
    "MissingInputError",
    "Rule",
    "compile_rule",
    "run_ingest",
    "with_rule_failures",
]
