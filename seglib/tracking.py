"""Every MLflow call of seglib lives here: the tracking store, the experiment, the run of a command, and the
logging and registration of fitted models.

The tracking store is ``mlflow.tracking_uri`` when the config sets one, else MLflow's own environment variable
``MLFLOW_TRACKING_URI``, else, for a local warehouse only, a sqlite file beside it (``.seglib/mlflow.db``, artifacts in
``.seglib/mlartifacts``). A remote warehouse (``hdfs://``, ``s3://``, ``dbfs:/`` ...) with neither is refused: its
models would otherwise land on the driver's local disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from seglib.config import SeglibConfig
from seglib.config.registry import ModelRegistryConfig
from seglib.errors import SeglibError
from seglib.modeling.gate import CHALLENGER, CHAMPION, GateDecision, gate_decision
from seglib.run_types import ModelRegistration, RunContext

if TYPE_CHECKING:  # pragma: no cover
    from seglib.modeling.clustering import ClusteringResult

log = logging.getLogger(__name__)

# Explicit requirements (MLflow's environment inference costs ~20 s per logged model): the Spark line that fitted it.
MODEL_PIP_REQUIREMENTS = [f"pyspark=={version('pyspark')}", f"mlflow=={version('mlflow')}", "seglib"]
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own variable: the store when the config sets none


def _local_state_dir(cfg: SeglibConfig) -> Path | None:
    """The folder beside a local warehouse (a plain path or a ``file:`` URI); None for remote warehouses."""
    path = cfg.warehouse.path
    if path.startswith("file:"):
        path = urlparse(path).path
    elif ":" in path:
        return None
    return Path(path).resolve().parent


def _embedded_uri(state: Path) -> str:
    return f"sqlite:///{state / 'mlflow.db'}"


def tracking_uri(cfg: SeglibConfig) -> str:
    """``mlflow.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the embedded store beside a local warehouse."""
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    from_env = os.environ.get(TRACKING_URI_ENV, "").strip()
    if from_env:
        return from_env
    state = _local_state_dir(cfg)
    if state is None:
        raise SeglibError(
            f"no MLflow tracking store for the remote warehouse {cfg.warehouse.path}: set {TRACKING_URI_ENV} "
            "(e.g. http://mlflow.internal:5000) or --set mlflow.tracking_uri=...; the embedded sqlite store is only "
            "for local warehouses"
        )
    return _embedded_uri(state)


def setup_mlflow(cfg: SeglibConfig) -> str:
    """Point MLflow at the configured store and return the experiment id (created on first use)."""
    import mlflow

    uri = tracking_uri(cfg)
    # MLflow exports the URI it is given as MLFLOW_TRACKING_URI (for subprocesses); seglib reads that variable as the
    # user's choice, so the user's value is restored: a second configuration in this process (another warehouse)
    # must resolve its own store, not the first one's.
    users = os.environ.get(TRACKING_URI_ENV)
    mlflow.set_tracking_uri(uri)
    if users is None:
        os.environ.pop(TRACKING_URI_ENV, None)
    else:
        os.environ[TRACKING_URI_ENV] = users
    if cfg.mlflow.registry_uri:
        mlflow.set_registry_uri(cfg.mlflow.registry_uri)
    experiment = mlflow.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = cfg.mlflow.artifact_location
    state = _local_state_dir(cfg)
    if artifact_location is None and state is not None and uri == _embedded_uri(state):
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


def _active_run_id() -> str:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else ""


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
    if result.text_model is not None:
        # The fitted annotators (lemma dictionary, lexicon, taxonomy tries) travel inside the saved PipelineModel.
        mlflow.spark.log_model(
            result.text_model,
            artifact_path="text_pipeline",
            pip_requirements=[*MODEL_PIP_REQUIREMENTS, f"spark-nlp=={version('spark-nlp')}"],
        )


def log_segments_result(result) -> None:
    """The publication in the active run: sizes per family and segment, the rule percentiles it resolved, and the
    Delta version of each segment table (the run can be read back by time travel)."""
    import mlflow

    mlflow.log_metrics({"segments.subjects": float(result.subjects), "segments.transitions": float(result.transitions)})
    mlflow.log_dict(
        {
            "snapshot_date": result.snapshot_date.isoformat(),
            "previous_snapshot_date": result.previous_snapshot_date and result.previous_snapshot_date.isoformat(),
            "table_versions": result.table_versions,
            "percentiles": result.percentiles,
            "segments": result.sizes,
        },
        "segments/publication.json",
    )


def log_skipped_families(skipped) -> None:
    """The families the run could not produce (FamilyCheck: family, status, reason) as tags and one JSON artifact,
    so a run's record says what it left out and why."""
    import mlflow

    mlflow.set_tag("seglib.partial", str(any(c.status == "skipped" for c in skipped)).lower())
    if not skipped:
        return
    mlflow.set_tags({f"seglib.{c.status}.{c.family}": c.reason[:5000] for c in skipped})
    # log_dict is typed for a dict, but logs any JSON-serialisable object; the artifact is a list of families.
    mlflow.log_dict([asdict(c) for c in skipped], "skipped_families.json")  # type: ignore[arg-type]


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


def log_clustering(cfg: SeglibConfig, ctx: RunContext, result: ClusteringResult) -> ModelRegistration:
    """Log and register the clustering pipeline; the new version becomes ``champion`` only if it passes the gate
    (else ``challenger``).

    Logged: the clustering config, every k candidate's metrics (step = k), the selection reason, dropped features.
    """
    import mlflow
    import mlflow.spark

    model_name = clustering_model_name(cfg)
    with mlflow_run(cfg, ctx, "cluster") as run:
        c = cfg.clustering
        params = c.model_dump(
            exclude={"features", "categorical_features", "log_features", "feature_weights", "registry"}
        )
        mlflow.log_params({f"clustering.{k}": v for k, v in params.items()})
        mlflow.log_params(
            {
                "features": ",".join(result.feature_cols),
                "dropped_features": ",".join(sorted(result.dropped_features)) or "-",
                "chosen_k": result.k,
            }
        )
        for candidate in result.selection.candidates:
            metrics = {"cost": candidate.cost, "silhouette": candidate.silhouette}
            if candidate.stability is not None:
                metrics["stability"] = candidate.stability
            if candidate.bic is not None:
                metrics["bic"] = candidate.bic
            mlflow.log_metrics(metrics, step=candidate.k)
        mlflow.log_metric("chosen_silhouette", result.silhouette)
        mlflow.log_dict(result.selection.to_dict(), "k_selection.json")
        mlflow.log_dict(result.dropped_features, "dropped_features.json")
        mlflow.set_tag("seglib.k_selection", result.selection.reason)
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifact(str(_selection_plot(result, Path(tmp) / "model_selection.png")))
        info = mlflow.spark.log_model(
            result.model,
            artifact_path="clustering_model",
            registered_model_name=model_name,
            pip_requirements=MODEL_PIP_REQUIREMENTS,
            signature=clustering_signature(result.feature_cols, result.columns.categorical),
        )
        version = str(info.registered_model_version)
        gate_metrics = {"silhouette": result.silhouette, "stability": result.stability_by_k.get(result.k, float("nan"))}
        gate = promote_if_better(model_name, version, gate_metrics, c.registry, "clustering.registry")
        return ModelRegistration(model_name, version, gate.alias, gate.reason, run.info.run_id)


# ---- registration: model name, signature, champion gate -------------------------------------------------------------

_METRIC_TAG = "seglib.metric."


def _registered_name(cfg: SeglibConfig, registry: ModelRegistryConfig, family: str) -> str:
    """``<family>.registry.model_name`` (may be a Unity Catalog catalog.schema.model), else <prefix>_<family>."""
    return registry.model_name or f"{cfg.mlflow.registered_model_prefix}_{family}"


def clustering_model_name(cfg: SeglibConfig) -> str:
    return _registered_name(cfg, cfg.clustering.registry, "clustering")


def propensity_model_name(cfg: SeglibConfig, target: str) -> str:
    """<propensity name>_<target> (target names are lower-case identifiers: valid in Unity Catalog too)."""
    return f"{_registered_name(cfg, cfg.propensity.registry, 'propensity')}_{target}"


def propensity_signature(feature_cols: list[str]):
    """Input: the feature columns as optional doubles (imputed inside the pipeline); output: the probability."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec("double", c, required=False) for c in feature_cols])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "score")]))


def _propensity_plot(fit, path: Path) -> Path:
    """Cumulative gains, calibration and ROC at the score-decile cut points of the holdout, GBT vs baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for label, metrics, style in (("GBT", fit.gbt, "o-"), ("logistic", fit.baseline, "s--")):
        table = sorted(metrics.calibration, key=lambda r: -r["decile"])  # highest scores first
        n = sum(r["n"] for r in table)
        positives = sum(r["n"] * r["positive_rate"] for r in table) or 1.0
        share, caught, fpr, tpr = [0.0], [0.0], [0.0], [0.0]
        for r in table:
            share.append(share[-1] + r["n"] / n)
            hits = r["n"] * r["positive_rate"]
            caught.append(caught[-1] + hits / positives)
            tpr.append(caught[-1])
            fpr.append(fpr[-1] + (r["n"] - hits) / max(n - positives, 1.0))
        axes[0].plot(share, caught, style, label=label)
        axes[1].plot([r["mean_score"] for r in table], [r["positive_rate"] for r in table], style, label=label)
        axes[2].plot(fpr, tpr, style, label=f"{label} (AUC {metrics.roc_auc:.3f})")
    axes[0].plot([0, 1], [0, 1], ":", color="grey")
    axes[0].set(title="Cumulative gains (holdout)", xlabel="share of subjects, highest scores first",
                ylabel="share of positives")  # fmt: skip
    axes[1].plot([0, 1], [0, 1], ":", color="grey")
    axes[1].set(title="Calibration by score decile", xlabel="mean score", ylabel="observed rate")
    axes[2].plot([0, 1], [0, 1], ":", color="grey")
    axes[2].set(title="ROC at decile cut points", xlabel="false positive rate", ylabel="true positive rate")
    for ax in axes:
        ax.legend(fontsize="small")
    fig.suptitle(f"{fit.target}: trained on {len(fit.cutoffs.training)} cut-offs, held out {fit.cutoffs.holdout}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def log_propensity(cfg: SeglibConfig, ctx: RunContext, fit, model_name: str) -> ModelRegistration:
    """Log one target's propensity fit into the active run (params, holdout metrics of both models, CV scores,
    importances, calibration tables, plots), register the published pipeline and gate its alias on the holdout."""
    import mlflow
    import mlflow.spark

    prefix = f"propensity.{fit.target}."
    mlflow.log_params(
        {
            f"{prefix}cutoffs_training": ",".join(str(c) for c in fit.cutoffs.training),
            f"{prefix}cutoff_holdout": str(fit.cutoffs.holdout),
            f"{prefix}model_kind": fit.model_kind,
            f"{prefix}isotonic_calibration": fit.calibrated,
            **{f"{prefix}best_{k}": v for k, v in fit.best_params.items()},
            **{f"{prefix}class_weight_{k}": round(v, 6) for k, v in fit.class_weights.items()},
        }
    )
    mlflow.log_metrics(
        {
            **{f"{prefix}{k}": v for k, v in fit.gbt.flat("holdout_gbt_").items()},
            **{f"{prefix}{k}": v for k, v in fit.baseline.flat("holdout_baseline_").items()},
            f"{prefix}holdout_gbt_uncalibrated_brier": fit.uncalibrated_brier,
            f"{prefix}training_rows": float(fit.training_rows),
            f"{prefix}training_positives": float(fit.training_positives),
        }
    )
    mlflow.log_dict(
        {
            "validation": fit.validation,
            "validation_roc_auc": fit.validation_roc_auc,
            "feature_importances": fit.importances,
            "dropped_features": fit.dropped_features,
            "calibration_gbt": fit.gbt.calibration,
            "calibration_baseline": fit.baseline.calibration,
        },
        f"propensity/{fit.target}/validation.json",
    )
    with tempfile.TemporaryDirectory() as tmp:
        plot = _propensity_plot(fit, Path(tmp) / f"{fit.target}_holdout.png")
        mlflow.log_artifact(str(plot), artifact_path=f"propensity/{fit.target}")
    info = mlflow.spark.log_model(
        fit.model,
        artifact_path=f"propensity_{fit.target}",
        registered_model_name=model_name,
        pip_requirements=MODEL_PIP_REQUIREMENTS,
        signature=propensity_signature(fit.columns),
    )
    version = str(info.registered_model_version)
    gate = promote_if_better(
        model_name, version, {"roc_auc": fit.published.roc_auc}, cfg.propensity.registry, "propensity.registry"
    )
    return ModelRegistration(model_name, version, gate.alias, gate.reason, _active_run_id())


def log_propensity_tiers(target: str, thresholds: dict[str, float], profiles: list[dict[str, Any]]) -> None:
    """The scored snapshot's tier thresholds and, per tier, its size, mean score and feature means (for reports)."""
    import mlflow

    mlflow.log_dict({"thresholds": thresholds, "tiers": profiles}, f"propensity/{target}/tiers.json")


def clv_model_name(cfg: SeglibConfig) -> str:
    return _registered_name(cfg, cfg.clv.registry, "clv")


def clv_signature():
    """Input: a BTYD summary row (monetary_value optional); output: the four predicted columns."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from seglib.modeling.clv_model import INPUT_COLUMNS, OUTPUT_COLUMNS

    inputs = Schema([ColSpec("double", c, required=c != "monetary_value") for c in INPUT_COLUMNS])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", c) for c in OUTPUT_COLUMNS]))


def log_clv(cfg: SeglibConfig, models, validation, comparison, parameters) -> ModelRegistration:
    """Log the CLV fit into the active run (params, both fits, the calibration fit and its holdout comparison: table
    and plot), register the parameters as a pyfunc model and gate its alias on the holdout comparison. The spend
    model's method (``mle`` | ``shrunk_mean``) and reason are params (``clv.gamma_gamma.method`` / ``.reason``), a
    run tag and a tag of the registered version."""
    import mlflow
    import mlflow.pyfunc
    from mlflow import MlflowClient

    from seglib.modeling.clv import plot_holdout
    from seglib.modeling.clv_model import PARAMETERS_FILE, ClvPyfunc

    c = cfg.clv
    mlflow.log_params(
        {
            "clv.period": c.period,
            "clv.horizon_days": c.horizon_days,
            "clv.annual_discount_rate": c.annual_discount_rate,
            "clv.penalizer": c.penalizer,
            "clv.calibration_cutoff": str(comparison.calibration_cutoff),
            # the spend model that scores (mle | shrunk_mean) and why it fell back; the calibration fit's too
            "clv.gamma_gamma.method": models.spend.method,
            "clv.gamma_gamma.reason": models.spend.reason[:500] or "-",
            "clv.calibration.gamma_gamma.method": validation.spend.method,
            "clv.calibration.gamma_gamma.reason": validation.spend.reason[:500] or "-",
        }
    )
    mlflow.set_tag("clv.gamma_gamma.method", models.spend.method)
    mlflow.log_metrics({**models.flat("clv."), **validation.flat("clv.calibration."), **comparison.flat()})
    mlflow.log_dict(
        {"by_frequency": comparison.by_frequency, "holdout": comparison.flat(""), "fits": models.flat("")},
        "clv/holdout.json",
    )
    name = clv_model_name(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.log_artifact(str(plot_holdout(comparison, Path(tmp) / "clv_holdout.png", c.period)), "clv")
        info = mlflow.pyfunc.log_model(
            artifact_path="clv",
            python_model=ClvPyfunc(),
            artifacts={"parameters": str(parameters.write(Path(tmp) / PARAMETERS_FILE))},
            registered_model_name=name,
            pip_requirements=[*MODEL_PIP_REQUIREMENTS, f"scipy=={version('scipy')}"],
            signature=clv_signature(),
        )
    model_version = str(info.registered_model_version)
    MlflowClient().set_model_version_tag(name, model_version, "clv.gamma_gamma.method", models.spend.method)
    gate_metrics = {"abs_relative_error": abs(comparison.relative_error), "correlation": comparison.correlation}
    gate = promote_if_better(name, model_version, gate_metrics, c.registry, "clv.registry")
    return ModelRegistration(name, model_version, gate.alias, gate.reason, _active_run_id())


def load_clv_parameters(model_name: str, alias: str = CHAMPION):
    """The ClvParameters of ``model_name@alias`` (its JSON artifact) and the version."""
    import mlflow.artifacts
    from mlflow import MlflowClient

    from seglib.modeling.clv_model import PARAMETERS_FILE, ClvParameters

    champion = _version_by_alias(MlflowClient(), model_name, alias)
    if champion is None:
        raise LookupError(f"registered model {model_name!r} has no {alias} version")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{model_name}@{alias}", dst_path=tmp))
        found = sorted(local.rglob(PARAMETERS_FILE))
        if not found:
            raise LookupError(f"models:/{model_name}@{alias} has no {PARAMETERS_FILE}")
        return ClvParameters.read(found[0]), str(champion.version)


def clustering_signature(feature_cols: list[str], categorical: Sequence[str] = ()):
    """Input: the feature columns as optional doubles (categorical ones as strings; the pipeline imputes nulls);
    output: the cluster number.

    Explicit rather than inferred: inference needs sample rows of subjects, and Unity Catalog requires a signature.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [ColSpec("string" if name in categorical else "double", name, required=False) for name in feature_cols]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("integer", "cluster_id")]))


def _version_by_alias(client, model_name: str, alias: str):
    """The version ``model_name@alias``, None when the model or the alias does not exist (yet); any other registry
    failure (unreachable server, permissions, a broken store) is a SeglibError, never read as "no champion"."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        # No such model: RESOURCE_DOES_NOT_EXIST (NOT_FOUND on Unity Catalog); no such alias: INVALID_PARAMETER_VALUE
        # "Registered model alias <alias> not found" (the file, sqlite and REST stores).
        code, message = exc.error_code, str(exc).lower()
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or (
            code == "INVALID_PARAMETER_VALUE" and "alias" in message and "not found" in message
        ):
            return None
        raise SeglibError(f"MLflow registry: cannot read {model_name}@{alias} ({code}): {exc.message}") from exc


def promote_if_better(
    model_name: str, version: str, metrics: dict[str, float], registry: ModelRegistryConfig, registry_key: str
) -> GateDecision:
    """Alias ``version`` champion if it passes ``registry.champion_gate`` (the config at ``registry_key``) against
    the current champion, else challenger.

    The gate metrics are stored as version tags (``seglib.metric.<name>``) so the next version compares against them
    without depending on how a run named its metrics. The decision and its reason go to the version's tags and, when
    a run is active, to the run.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    champion = _version_by_alias(client, model_name, CHAMPION)
    champion_metrics = None
    if champion is not None and str(champion.version) != str(version):
        tags = champion.tags or {}
        champion_metrics = {k.removeprefix(_METRIC_TAG): float(v) for k, v in tags.items() if k.startswith(_METRIC_TAG)}
    decision = gate_decision(
        registry.champion_gate,
        metrics,
        champion_metrics,
        str(champion.version) if champion else None,
        f"{registry_key}.champion_gate",
    )
    for name, value in metrics.items():
        client.set_model_version_tag(model_name, version, f"{_METRIC_TAG}{name}", str(value))
    client.set_model_version_tag(model_name, version, "seglib.gate", decision.reason[:5000])
    client.set_registered_model_alias(model_name, decision.alias, version)
    if mlflow.active_run() is not None:
        mlflow.set_tags({"seglib.alias": decision.alias, "seglib.gate": decision.reason[:5000]})
    level = logging.INFO if decision.promoted else logging.WARNING
    log.log(level, "%s v%s -> %s: %s", model_name, version, decision.alias, decision.reason)
    return decision


def load_champion(cfg: SeglibConfig) -> tuple[Any, list[str], str]:
    """The current clustering champion's PipelineModel, its input feature columns (from the signature) and its
    version."""
    return load_by_alias(clustering_model_name(cfg))


def load_by_alias(model_name: str, alias: str = CHAMPION) -> tuple[Any, list[str], str]:
    """The PipelineModel ``model_name@alias``, its input columns (from the signature) and its version."""
    import mlflow.spark
    from mlflow import MlflowClient
    from mlflow.models import get_model_info

    champion = _version_by_alias(MlflowClient(), model_name, alias)
    if champion is None:
        raise LookupError(f"registered model {model_name!r} has no {alias} version")
    uri = f"models:/{model_name}@{alias}"
    signature = get_model_info(uri).signature
    if signature is None:
        raise ValueError(f"{uri} has no signature: cannot tell which features it scores")
    return mlflow.spark.load_model(uri), signature.inputs.input_names(), str(champion.version)


def log_segment_publication(cfg: SeglibConfig, mlflow_run_id: str, persona_card: str, report: dict[str, Any]) -> None:
    """Attach the persona cards (markdown) and the id/size report of a published snapshot to the model's run."""
    import mlflow

    setup_mlflow(cfg)
    active = mlflow.active_run()
    same_run = active is not None and active.info.run_id == mlflow_run_id
    with contextlib.nullcontext() if same_run else mlflow.start_run(run_id=mlflow_run_id, nested=active is not None):
        mlflow.log_text(persona_card, "persona_cards.md")
        mlflow.log_dict(report, "segments.json")
        mlflow.log_metrics(
            {
                "segments_published": len(report.get("segments", [])),
                "segments_new": len(report.get("ids", {}).get("new", [])),
                "segments_vanished": len(report.get("ids", {}).get("vanished", {})),
                "clusters_merged": len(report.get("merged", {})),
            }
        )


def log_truth_scores(cfg: SeglibConfig, run_id: str, scores: dict[str, float]) -> None:
    """Agreement with the generator's planted segments (synthetic data), on the clustering run."""
    from mlflow import MlflowClient

    setup_mlflow(cfg)
    client = MlflowClient()
    for name, value in scores.items():
        client.log_metric(run_id, f"planted_truth_{name}", float(value))


def segment_classifier_model_name(cfg: SeglibConfig) -> str:
    return _registered_name(cfg, cfg.segments.classifier.registry, "segment_classifier")


def log_segment_classifier(cfg: SeglibConfig, fit, cluster_model: str) -> ModelRegistration:
    """Log the segment classifier into the active run (params, holdout metrics, the clustering model version whose
    segments it learnt) and register its pipeline; ``champion`` if the holdout found it usable, else ``challenger``.

    No comparison with the previous version (promote_if_better): it is retrained every snapshot on that snapshot's
    segments, whose set can change, so "champion" means "the latest usable one"."""
    import mlflow
    import mlflow.spark
    from mlflow import MlflowClient
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from seglib.modeling.segment_classifier import PREDICTED

    c = cfg.segments.classifier
    prefix = "segment_classifier."
    mlflow.log_params(
        {
            f"{prefix}features": ",".join(fit.feature_cols),
            f"{prefix}classes": ",".join(fit.classes),
            f"{prefix}num_trees": c.num_trees,
            f"{prefix}max_depth": c.max_depth,
            f"{prefix}seed": c.seed,
            f"{prefix}holdout_fraction": c.holdout_fraction,
            f"{prefix}confidence_threshold": c.confidence_threshold,
            f"{prefix}champion_gate": json.dumps([r.model_dump() for r in c.registry.champion_gate]),
            f"{prefix}cluster_model": cluster_model,
        }
    )
    mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in fit.metrics.items()})
    mlflow.set_tags({"seglib.segment_classifier.cluster_model": cluster_model})
    # Input: the features as optional doubles (the pipeline imputes nulls); output: the most probable segment id.
    signature = ModelSignature(
        inputs=Schema([ColSpec("double", name, required=False) for name in fit.feature_cols]),
        outputs=Schema([ColSpec("string", PREDICTED)]),
    )
    name = segment_classifier_model_name(cfg)
    info = mlflow.spark.log_model(
        fit.model,
        artifact_path="segment_classifier",
        registered_model_name=name,
        pip_requirements=MODEL_PIP_REQUIREMENTS,
        signature=signature,
    )
    model_version = str(info.registered_model_version)
    client = MlflowClient()
    alias = CHAMPION if fit.usable else CHALLENGER
    client.set_model_version_tag(name, model_version, "seglib.cluster_model", cluster_model)
    client.set_model_version_tag(name, model_version, "seglib.gate", fit.reason[:5000])
    client.set_registered_model_alias(name, alias, model_version)
    log.log(logging.INFO if fit.usable else logging.WARNING, "%s v%s -> %s: %s", name, model_version, alias, fit.reason)
    return ModelRegistration(name, model_version, alias, fit.reason, _active_run_id())
