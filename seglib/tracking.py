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

from seglib.config import SeglibConfig

if TYPE_CHECKING:  # pragma: no cover
    from seglib.modeling.clustering import ClusteringResult
    from seglib.pipeline import RunContext

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


@contextlib.contextmanager
def mlflow_run(cfg: SeglibConfig, ctx: RunContext, name: str):
    """The MLflow run of one seglib command (nested if one is already active), tagged with the seglib run id."""
    import mlflow

    experiment_id = setup_mlflow(cfg)
    nested = mlflow.active_run() is not None
    with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=nested) as run:
        mlflow.set_tags({"seglib.run_id": ctx.run_id, "seglib.as_of": ctx.as_of.isoformat()})
        yield run


def _selection_plot(result: ClusteringResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(result.silhouette_by_k)
    fig, ax1 = plt.subplots(figsize=(6.5, 3.8))
    ax1.plot(ks, [result.cost_by_k[k] for k in ks], "o-", color="tab:blue")
    ax1.set_xlabel("k")
    ax1.set_ylabel("cost (elbow)", color="tab:blue")
    ax2 = ax1.twinx()
    ax2.plot(ks, [result.silhouette_by_k[k] for k in ks], "s--", color="tab:orange", label="silhouette")
    stability = result.stability_by_k
    if stability:
        ax2.plot(ks, [stability.get(k, float("nan")) for k in ks], "^-.", color="tab:green", label="stability")
    ax2.set_ylabel("silhouette / stability")
    ax2.legend(loc="lower right", fontsize="small")
    ax1.axvline(result.k, color="grey", linestyle=":")
    ax1.set_title(f"Model selection ({result.selection.criterion}): chosen k={result.k}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def log_clustering(
    cfg: SeglibConfig, ctx: RunContext, result: ClusteringResult, personas: dict[int, str]
) -> dict[str, Any]:
    """Log and register the clustering pipeline; alias the new version ``champion``. Returns name/version/run id.

    Logged: the clustering config, every k candidate's metrics (step = k), the selection reason, dropped features.
    """
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient

    model_name = f"{cfg.mlflow.registered_model_prefix}_clustering"
    with mlflow_run(cfg, ctx, "cluster") as run:
        c = cfg.clustering
        params = c.model_dump(exclude={"features", "categorical_features", "log_features", "feature_weights"})
        mlflow.log_params({f"clustering.{k}": v for k, v in params.items()})
        mlflow.log_params(
            {
                "features": ",".join(result.feature_cols),
                "dropped_features": ",".join(sorted(result.dropped_features)) or "-",
                "chosen_k": result.k,
            }
        )
        for candidate in result.selection.candidates:
            metrics = {"cost": candidate.cost, "silhouette": candidate.silhouette, "stability": candidate.stability}
            if candidate.bic is not None:
                metrics["bic"] = candidate.bic
            mlflow.log_metrics(metrics, step=candidate.k)
        mlflow.log_metric("chosen_silhouette", result.silhouette)
        mlflow.log_dict(result.selection.to_dict(), "k_selection.json")
        mlflow.log_dict(result.dropped_features, "dropped_features.json")
        mlflow.set_tag("seglib.k_selection", result.selection.reason)
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


def log_truth_scores(cfg: SeglibConfig, ctx: RunContext, run_id: str, scores: dict[str, float]) -> None:
    """Agreement with the generator's planted segments (synthetic data), on the clustering run."""
    from mlflow import MlflowClient

    setup_mlflow(cfg)
    client = MlflowClient()
    for name in ("ari", "nmi"):
        client.log_metric(run_id, f"planted_truth_{name}", float(scores[name]))
