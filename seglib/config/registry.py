"""How every model family is registered in MLflow and promoted: one config shape, ``<family>.registry``.

``clustering.registry``, ``propensity.registry``, ``clv.registry`` and ``segments.classifier.registry`` each hold the
registered model's name and the champion gate a new version must pass to take the ``champion`` alias.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from seglib.config.base import StrictModel

# One MLflow workspace name, or a Unity Catalog three-level name (catalog.schema.model).
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)?$")


class GateRule(StrictModel):
    """A new version must reach ``minimum`` on ``metric`` (if set) and, against the champion, not be worse than the
    champion's value by more than ``tolerance``."""

    metric: str = Field(description="A holdout metric the model family reports, e.g. silhouette, roc_auc.")
    higher_is_better: bool = True
    tolerance: float = Field(0.0, ge=0, description="Absolute slack allowed against the champion's value.")
    minimum: float | None = Field(None, description="Optional absolute floor (ceiling if lower is better).")
    against_champion: bool = Field(
        True,
        description="false: only the floor applies (a model retrained on a changing label set, such as the segment "
        "classifier, is not comparable with the previous version).",
    )


class ModelRegistryConfig(StrictModel):
    """The registered model of one family and its champion gate."""

    model_name: str | None = Field(
        None,
        description="Registered model name; null = <mlflow.registered_model_prefix>_<family>. A Unity Catalog name "
        "(catalog.schema.model) is allowed. Propensity appends the target: <model_name>_<target>.",
    )
    champion_gate: list[GateRule] = Field(
        default_factory=list,
        description="Every rule must pass for a new version to become champion; else it is the challenger and the "
        "champion keeps publishing.",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL_NAME.match(value):
            raise ValueError(f"model_name {value!r}: expected 'name' or 'catalog.schema.name'")
        return value


__all__ = ["GateRule", "ModelRegistryConfig"]
