import pytest

from seglib import session


def test_detect_home(monkeypatch):
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert session.detect_home() == "local"
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "12345")
    assert session.detect_home() == "cluster"
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    assert session.detect_home() == "databricks"


def test_session_has_delta_and_test_settings(spark):
    assert spark.conf.get("spark.sql.extensions") == session.DELTA_EXTENSION
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "1"
    assert spark.conf.get("spark.databricks.delta.snapshotPartitions") == "1"


def test_importing_seglib_creates_no_session():
    import subprocess
    import sys

    code = (
        "import seglib, seglib.cli, seglib.pipeline, seglib.delta_io\n"
        "from pyspark.sql import SparkSession\n"
        "assert SparkSession.getActiveSession() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_key_material_is_redacted_from_query_plans(spark):
    import contextlib
    import io

    from pyspark.sql import functions as F

    from seglib.privacy.keys import parse_key_ring
    from seglib.privacy.pseudonymize import pseudonym

    ring = parse_key_ring("ab" * 32)
    df = spark.range(1).select(pseudonym(F.col("id").cast("string"), ring).alias("p"))
    plan = io.StringIO()
    with contextlib.redirect_stdout(plan):
        df.explain(True)
    assert "sha2" in plan.getvalue()
    assert ring.active.ipad.hex().upper() not in plan.getvalue().upper()
    assert ring.active.opad.hex().upper() not in plan.getvalue().upper()


def test_mlflow_store_is_config_then_mlflow_env_then_embedded_for_local_warehouses_only(monkeypatch, tmp_path):
    """What the cluster overlay relies on (mlflow.tracking_uri: null): a remote warehouse takes MLflow's own
    MLFLOW_TRACKING_URI, and without it is refused in one line naming both settings, never a local sqlite file."""
    from seglib.config import SeglibConfig
    from seglib.errors import SeglibError
    from seglib.tracking import tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    remote = SeglibConfig(warehouse={"path": "hdfs:///seglib/wh"})
    local = SeglibConfig(warehouse={"path": str(tmp_path / "wh")})
    pinned = SeglibConfig(warehouse={"path": "hdfs:///seglib/wh"}, mlflow={"tracking_uri": "databricks"})
    with pytest.raises(SeglibError, match=r"hdfs:///seglib/wh: set MLFLOW_TRACKING_URI .* --set mlflow\.tracking_uri"):
        tracking_uri(remote)
    assert tracking_uri(local) == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking_uri(pinned) == "databricks"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking_uri(remote) == tracking_uri(local) == "http://mlflow.internal:5000"
    assert tracking_uri(pinned) == "databricks"  # the config, when it names one, wins over the environment


def test_a_second_configuration_in_one_process_resolves_its_own_mlflow_store(monkeypatch, tmp_path):
    """MLflow exports the URI it is set to as MLFLOW_TRACKING_URI; seglib must not read that back as the user's."""
    from seglib.config import SeglibConfig
    from seglib.tracking import setup_mlflow, tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first = SeglibConfig(warehouse={"path": str(tmp_path / "a" / "wh")})
    second = SeglibConfig(warehouse={"path": str(tmp_path / "b" / "wh")})
    setup_mlflow(first)
    assert tracking_uri(second) == f"sqlite:///{tmp_path}/b/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    setup_mlflow(
        SeglibConfig(
            warehouse={"path": str(tmp_path / "c" / "wh")},
            mlflow={"tracking_uri": "sqlite:///" + str(tmp_path / "c.db")},
        )
    )
    assert tracking_uri(second) == "http://mlflow.internal:5000"  # the user's own value survives
