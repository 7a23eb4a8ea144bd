"""Typed, strict configuration: YAML files -> pydantic models, loaded once per command.

Layering, later wins: the models' defaults, then each ``--config FILE`` in order (a file may name a parent with
``extends: other.yaml``, resolved relative to itself), then each ``--set dotted.key=value`` (the value is parsed as
YAML, so ``--set generator.customers=500`` is an int and ``--set spark.conf={a: b}`` a mapping).
Unknown keys are rejected with the full dotted path of the offending key.
"""

from __future__ import annotations

from seglib.config.loader import ConfigError, load_config, parse_override
from seglib.config.models import (
    InputsConfig,
    MlflowConfig,
    SeglibConfig,
    SparkSettings,
    WarehouseConfig,
)

__all__ = [
    "ConfigError",
    "InputsConfig",
    "MlflowConfig",
    "SeglibConfig",
    "SparkSettings",
    "WarehouseConfig",
    "load_config",
    "parse_override",
]
