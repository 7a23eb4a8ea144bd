"""The root configuration model and its core sections (Spark, inputs, warehouse, MLflow).

Stage-specific sections live beside this file, one module each, so stages evolve independently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from seglib.config.base import StrictModel
from seglib.config.clv import ClvConfig
from seglib.config.features import FeaturesConfig
from seglib.config.generator import GeneratorConfig
from seglib.config.ingest import IngestConfig
from seglib.config.modeling import ClusteringConfig
from seglib.config.privacy import PrivacyConfig
from seglib.config.propensity import PropensityConfig
from seglib.config.rules import RuleSetConfig
from seglib.config.segments import SegmentsConfig


class SparkSettings(StrictModel):
    home: Literal["auto", "local", "cluster", "databricks"] = "auto"
    master: str | None = Field(None, description="Only for the local home; spark-submit passes its own.")
    shuffle_partitions: int = Field(4, ge=1)
    driver_memory: str = "4g"
    ui_enabled: bool = False
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings, applied last.")


def absolute_location(location: str) -> str:
    """Relative local paths become absolute (Spark SQL's delta.`path` does not resolve relative ones);
    URIs (``s3://``, ``dbfs:/``) and catalog names (no ``/``) are kept as they are."""
    if ":" in location or "/" not in location:
        return location
    return str(Path(location).expanduser().resolve())


class WarehouseConfig(StrictModel):
    path: str = Field(
        ".seglib/warehouse", validate_default=True, description="Root folder/URI of every table seglib writes."
    )
    catalog_schema: str | None = Field(
        None, description="If set, each table is also registered as an external table in this schema."
    )
    run_lock_minutes: float = Field(
        360, gt=0, description="Lease of the warehouse run lock: a crashed run blocks others at most this long."
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return absolute_location(value if "/" in value or ":" in value else f"./{value}")


class InputsConfig(StrictModel):
    """Raw input tables: a path/URI (contains '/' or ':') or a catalog table name. Null = the generator's output."""

    raw_events: str | None = None
    raw_crm_customers: str | None = None
    raw_orders: str | None = None
    raw_consents: str | None = None
    raw_texts: str | None = None

    @field_validator("*")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return absolute_location(value) if value else value


class MlflowConfig(StrictModel):
    tracking_uri: str | None = Field(
        None,
        description="Default: the MLFLOW_TRACKING_URI environment variable, else for a local warehouse "
        "sqlite:///<warehouse.path>/../mlflow.db (the embedded store); a remote warehouse needs one of the two.",
    )
    registry_uri: str | None = None
    experiment: str = "seglib"
    artifact_location: str | None = Field(None, description="Default: <warehouse.path>/../mlartifacts")
    registered_model_prefix: str = "seglib"


class SeglibConfig(StrictModel):
    spark: SparkSettings = Field(default_factory=SparkSettings)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    inputs: InputsConfig = Field(default_factory=InputsConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    segments: SegmentsConfig = Field(default_factory=SegmentsConfig)
    propensity: PropensityConfig = Field(default_factory=PropensityConfig)
    clv: ClvConfig = Field(default_factory=ClvConfig)
    rules: RuleSetConfig = Field(default_factory=RuleSetConfig)
