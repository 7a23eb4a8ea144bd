"""MLflow wiring: one place resolves the tracking store, the experiment and model logging defaults.

Locally the store is a sqlite file beside the warehouse (``.seglib/mlflow.db``),
artifacts in ``.seglib/mlartifacts``;
on a cluster or Databricks the URIs come from config.
"""

from __future__ import annotations

import logging
from pathlib import Path

from seglib.config import SeglibConfig

log = logging.getLogger(__name__)

# Explicit requirements: MLflow's environment inference costs ~20 s per logged model.
MODEL_PIP_REQUIREMENTS = ["pyspark==4.1.2", "mlflow==3.17.2", "seglib"]


def _local_state_dir(cfg: SeglibConfig) -> Path:
    return Path(cfg.warehouse.path).resolve().parent


def tracking_uri(cfg: SeglibConfig) -> str:
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    return f"sqlite:///{_local_state_dir(cfg) / 'mlflow.db'}"


def setup_mlflow(cfg: SeglibConfig) -> str:
    """Point MLflow at the configured store and return the experiment id (created on first use)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(cfg))
    if cfg.mlflow.registry_uri:
        mlflow.set_registry_uri(cfg.mlflow.registry_uri)
    experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = cfg.mlflow.artifact_location
    if artifact_location is None and "://" not in cfg.warehouse.path and not cfg.mlflow.tracking_uri:
        artifact_location = (_local_state_dir(cfg) / "mlartifacts").as_uri()
    return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=artifact_location)
