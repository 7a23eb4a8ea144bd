"""Champion gating against a real local MLflow registry (sqlite in a tmp dir), with a Unity-Catalog-style name."""

import re

import pytest

from seglib.config import MlflowConfig, SeglibConfig, WarehouseConfig
from seglib.config.modeling import ClusteringConfig
from seglib.config.registry import GateRule, ModelRegistryConfig
from seglib.modeling.gate import gate_decision
from seglib.tracking import (
    MODEL_PIP_REQUIREMENTS,
    clustering_model_name,
    clustering_signature,
    load_champion,
    promote_if_better,
    setup_mlflow,
)

UC_NAME = "main.marketing.seglib_clustering"
SILHOUETTE = [GateRule(metric="silhouette", tolerance=0.02)]


def test_first_version_is_champion_then_worse_beyond_tolerance_is_challenger():
    assert gate_decision(SILHOUETTE, {"silhouette": 0.3}, None).promoted
    worse = gate_decision(SILHOUETTE, {"silhouette": 0.45}, {"silhouette": 0.5}, "1")
    assert (worse.promoted, worse.alias) == (False, "challenger")
    assert worse.reason == "silhouette=0.4500 worse than champion's 0.5000 by more than 0.02"
    assert gate_decision(SILHOUETTE, {"silhouette": 0.485}, {"silhouette": 0.5}, "1").alias == "champion"


def test_every_rule_must_pass_including_floors_and_lower_is_better():
    rules = [
        GateRule(metric="stability", tolerance=0.05, minimum=0.7),
        GateRule(metric="bic", higher_is_better=False, tolerance=10.0),
    ]
    champion = {"stability": 0.9, "bic": 1000.0}
    assert gate_decision(rules, {"stability": 0.88, "bic": 1009.0}, champion).promoted
    assert not gate_decision(rules, {"stability": 0.88, "bic": 1011.0}, champion).promoted
    below_floor = gate_decision(rules, {"stability": 0.6, "bic": 900.0}, None)
    assert (below_floor.promoted, below_floor.reason) == (False, "stability=0.6000 beyond the limit 0.7")


def test_a_gate_metric_the_model_does_not_report_is_an_error_naming_its_config_key():
    with pytest.raises(ValueError, match=r"^clustering.registry.champion_gate uses metric\(s\) \['stability'\]"):
        gate_decision([GateRule(metric="stability")], {"silhouette": 0.4}, None)
    with pytest.raises(ValueError, match=r"^propensity.registry.champion_gate uses metric\(s\) \['silhouette'\]"):
        gate_decision(
            [GateRule(metric="silhouette")], {"roc_auc": 0.8}, None, rules_key="propensity.registry.champion_gate"
        )


def test_a_floor_only_rule_ignores_the_champion():
    """The segment classifier's gate: retrained on each snapshot's segments, it is judged on its holdout alone."""
    floor_only = [GateRule(metric="accuracy", minimum=0.5, against_champion=False)]
    assert gate_decision(floor_only, {"accuracy": 0.6}, {"accuracy": 0.9}, "4").promoted
    assert not gate_decision(floor_only, {"accuracy": 0.4}, {"accuracy": 0.1}, "4").promoted
    compared = [GateRule(metric="accuracy", minimum=0.5)]
    assert not gate_decision(compared, {"accuracy": 0.6}, {"accuracy": 0.9}, "4").promoted


def test_every_family_has_the_same_registry_shape_and_moved_keys_say_where_they_went():
    from seglib.config import load_config
    from seglib.config.loader import ConfigError

    cfg = load_config([], [])
    for section in (cfg.clustering, cfg.propensity, cfg.clv, cfg.segments.classifier):
        assert isinstance(section.registry, ModelRegistryConfig) and section.registry.champion_gate
    named = load_config([], ["propensity.registry.model_name=main.ml.buyers", "clv.registry.model_name=ltv"])
    from seglib.tracking import clv_model_name, propensity_model_name

    assert propensity_model_name(named, "purchase") == "main.ml.buyers_purchase"
    assert clv_model_name(named) == "ltv"
    assert clustering_model_name(named) == "seglib_clustering"
    for old, new in [
        ("segments.model_name=x", "segments.model_name moved to clustering.registry.model_name"),
        ("propensity.champion_gate=[]", "propensity.champion_gate moved to propensity.registry.champion_gate"),
        ("segments.classifier.min_holdout_accuracy=0.6", "segments.classifier.min_holdout_accuracy moved to"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(new)):
            load_config([], [old])
    with pytest.raises(ConfigError, match=re.escape("expected 'name' or 'catalog.schema.name'")):
        load_config([], ["clv.registry.model_name=a.b"])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite store for the module: creating its schema takes ~10 s."""
    return tmp_path_factory.mktemp("mlflow") / "warehouse"


def _cfg(store, model_name: str) -> SeglibConfig:
    cfg = SeglibConfig(
        warehouse=WarehouseConfig(path=str(store)),
        mlflow=MlflowConfig(experiment="gate-test"),
        clustering=ClusteringConfig(registry=ModelRegistryConfig(model_name=model_name, champion_gate=SILHOUETTE)),
    )
    setup_mlflow(cfg)
    return cfg


def _alias(client, alias):
    return str(client.get_model_version_by_alias(UC_NAME, alias).version)


def test_registry_aliases_follow_the_gate(store, tmp_path):
    from mlflow import MlflowClient

    cfg = _cfg(store, UC_NAME)
    client = MlflowClient()
    assert clustering_model_name(cfg) == UC_NAME
    client.create_registered_model(UC_NAME)
    versions = [str(client.create_model_version(UC_NAME, source=str(tmp_path), run_id=None).version) for _ in range(3)]
    registry, key = cfg.clustering.registry, "clustering.registry"
    assert promote_if_better(UC_NAME, versions[0], {"silhouette": 0.5}, registry, key).promoted
    second = promote_if_better(UC_NAME, versions[1], {"silhouette": 0.4}, registry, key)
    assert (second.promoted, second.champion_version) == (False, versions[0])
    assert (_alias(client, "champion"), _alias(client, "challenger")) == (versions[0], versions[1])
    assert client.get_model_version(UC_NAME, versions[1]).tags["seglib.gate"] == second.reason
    assert promote_if_better(UC_NAME, versions[2], {"silhouette": 0.49}, registry, key).promoted
    assert _alias(client, "champion") == versions[2]


def test_a_logged_pipeline_carries_its_signature_and_loads_as_champion(spark, store):
    """The one test that logs a model (~20 s): registration under a dotted name, signature, reload by alias."""
    import mlflow
    import mlflow.spark
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    data = spark.createDataFrame([(0.0, 0.0), (0.1, 0.0), (9.0, 9.0), (9.1, 9.0)], "spend double, visits double")
    stages = [
        VectorAssembler(inputCols=["spend", "visits"], outputCol="v"),
        KMeans(k=2, seed=1, featuresCol="v", predictionCol="cluster_id"),
    ]
    model = Pipeline(stages=stages).fit(data)
    cfg = _cfg(store, f"{UC_NAME}_logged")
    with mlflow.start_run():
        info = mlflow.spark.log_model(
            model,
            artifact_path="clustering_model",
            registered_model_name=clustering_model_name(cfg),
            pip_requirements=MODEL_PIP_REQUIREMENTS,
            signature=clustering_signature(["spend", "visits"]),
        )
    name, version = clustering_model_name(cfg), str(info.registered_model_version)
    promote_if_better(name, version, {"silhouette": 0.9}, cfg.clustering.registry, "clustering.registry")
    loaded, feature_cols, version = load_champion(cfg)
    assert (feature_cols, version) == (["spend", "visits"], str(info.registered_model_version))
    assert loaded.transform(data).select("cluster_id").distinct().count() == 2
