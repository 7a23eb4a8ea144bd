"""Every MLflow call of seglib lives here: the tracking store, the experiment, the run of a command, and the
logging and registration of fitted models.

Locally the store is a sqlite file beside the warehouse (``.seglib/mlflow.db``), artifacts in
``.seglib/mlartifacts``; on a cluster or Databricks the URIs come from config.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from seglib.config import SeglibConfig
from seglib.errors import SeglibError

if TYPE_CHECKING:  # pragma: no cover
    from seglib.modeling.clustering import ClusteringResult
    from seglib.pipeline import RunContext

log = logging.getLogger(__name__)

# Explicit requirements: MLflow's environment inference costs ~20 s per logged model.
MODEL_PIP_REQUIREMENTS = ["pyspark==4.1.2", "mlflow==3.17.2", "seglib"]


def _local_state_dir(cfg: SeglibConfig) -> Path | None:
    """The folder beside a local warehouse (a plain path or a ``file:`` URI); None for remote warehouses."""
    path = cfg.warehouse.path
    if path.startswith("file:"):
        path = urlparse(path).path
    elif ":" in path:
        return None
    return Path(path).resolve().parent


def tracking_uri(cfg: SeglibConfig) -> str:
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    state = _local_state_dir(cfg)
    if state is None:
        raise SeglibError(
            f"mlflow.tracking_uri must be set for a remote warehouse ({cfg.warehouse.path}); "
            "the embedded sqlite store is only for local warehouses"
        )
    return f"sqlite:///{state / 'mlflow.db'}"


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
    state = _local_state_dir(cfg)
    if artifact_location is None and state is not None and not cfg.mlflow.tracking_uri:
        artifact_location = (state / "mlartifacts").as_uri()
    return mlflow.create_experiment(cfg.mlflow.experiment, artifact_location=artifact_location)



@contextlib.contextmanager
def mlflow_run(cfg: SeglibConfig, ctx: RunContext, name: str):
    """The MLflow run of one seglib command (nested if one is already active), tagged with the seglib run id."""
    import mlflow

    experiment_id = setup_mlflow(cfg)
    nested = mlflow.active_run() is not None
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=nested) as run:
        mlflow.set_tags({"seglib.run_id": ctx.run_id, "seglib.as_of": ctx.as_of.isoformat()})
        yield run


def log_ingest_report(report) -> None:
    """The ingest run's DQ metrics (row accounting, rates, completeness) as MLflow metrics."""
    import mlflow

    mlflow.log_metrics(report.mlflow_metrics())


def log_features_result(result) -> None:
    """The text engine that ran, and the RFM score thresholds (so scores can be reproduced or reused)."""
    import mlflow

    mlflow.set_tag("seglib.text_engine", result.text_engine)
    if result.rfm_thresholds is not None:
        mlflow.log_dict(result.rfm_thresholds, "rfm_thresholds.json")


def _selection_plot(result: ClusteringResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(result.silhouette_by_k)
    fig, ax1 = plt.subplots(figsize=(6, 3.5))
    ax1.plot(ks, [result.cost_by_k[k] for k in ks], "o-", color="tab:blue")
    ax1.set_xlabel("k")
    ax1.set_ylabel("within-cluster cost (elbow)", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(ks, [result.silhouette_by_k[k] for k in ks], "s--", color="tab:orange")
    ax2.set_ylabel("silhouette", color="tab:orange")
    ax1.axvline(result.k, color="grey", linestyle=":")
    ax1.set_title(f"Model selection: chosen k={result.k}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def log_clustering(
    cfg: SeglibConfig, ctx: RunContext, result: ClusteringResult, personas: dict[int, str]
) -> dict[str, Any]:
    """Log and register the clustering pipeline; alias the new version ``champion``. Returns name/version/run id."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient

    model_name = f"{cfg.mlflow.registered_model_prefix}_clustering"
    with mlflow_run(cfg, ctx, "cluster") as run:
        c = cfg.clustering
        mlflow.log_params(
            {
                "algorithm": c.algorithm,
                "k_min": c.k_min,
                "k_max": c.k_max,
                "seed": c.seed,
                "max_iter": c.max_iter,
                "features": ",".join(result.feature_cols),
                "chosen_k": result.k,
            }
        )
        for k in sorted(result.silhouette_by_k):
            mlflow.log_metric("silhouette", result.silhouette_by_k[k], step=k)
            mlflow.log_metric("cost", result.cost_by_k[k], step=k)
        mlflow.log_metric("chosen_silhouette", result.silhouette)
        mlflow.log_dict({str(k): v for k, v in personas.items()}, "personas.json")
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(_selection_plot(result, Path(tmp) / "model_selection.png")))
        info = mlflow.spark.log_model(
            result.model,
            artifact_path="clustering_model",
            registered_model_name=model_name,
            pip_requirements=MODEL_PIP_REQUIREMENTS,
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(model_name, "champion", version)
        return {"model_name": model_name, "model_version": version, "mlflow_run_id": run.info.run_id}
