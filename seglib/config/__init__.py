"""Typed, strict configuration: YAML files -> pydantic models, loaded once per command.

Layering, later wins: the models' defaults, then each ``--config FILE`` in order (a file may name a parent with
``extends: other.yaml``, resolved relative to itself), then each ``--set dotted.key=value`` (the value is parsed as
YAML, so ``--set generator.customers=500`` is an int and ``--set spark.conf={a: b}`` a mapping).
Unknown keys are rejected with the full dotted path of the offending key.
The default configuration ships in the package (``seglib/config/defaults/``, :data:`DEFAULT_CONFIG`): ``seg`` loads it
when no ``--config`` is given, and ``seglib:<file>.yaml`` names one of its files (``extends: seglib:base.yaml``).
"""

from __future__ import annotations

from seglib.config.loader import DEFAULT_CONFIG, ConfigError, load_config, parse_override
from seglib.config.models import (
    InputsConfig,
    MlflowConfig,
    SeglibConfig,
    SparkSettings,
    WarehouseConfig,
)

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigError",
    "InputsConfig",
    "MlflowConfig",
    "SeglibConfig",
    "SparkSettings",
    "WarehouseConfig",
    "load_config",
    "parse_override",
]
