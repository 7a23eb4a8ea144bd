"""Ingest stage: raw Delta tables -> validated, de-duplicated, pseudonymous silver tables (+ quarantine, DQ metrics).

``run_ingest`` is imported lazily so the rule engine and de-duplication work without seglib.privacy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from seglib.ingest.contract import IngestError, InvariantError, MissingColumnError
from seglib.ingest.rules import Rule, compile_rule, split_valid, with_rule_failures

if TYPE_CHECKING:  # pragma: no cover
    from seglib.ingest.run import IngestReport, run_ingest

__all__ = [
    "IngestError",
    "IngestReport",
    "InvariantError",
    "MissingColumnError",
    "Rule",
    "compile_rule",
    "run_ingest",
    "split_valid",
    "with_rule_failures",
]


def __getattr__(name: str) -> Any:
    if name in ("run_ingest", "IngestReport"):
        from seglib.ingest import run

        return getattr(run, name)
    raise AttributeError(f"module 'seglib.ingest' has no attribute {name!r}")
