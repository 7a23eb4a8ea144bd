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
