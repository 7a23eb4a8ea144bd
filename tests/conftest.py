"""One session-scoped SparkSession with Delta per test process (1 shuffle partition, UTC, UI off).

Test data is tiny, so a test's time is Spark's fixed cost per query, not the work: every extra shuffle partition or
Delta snapshot partition is a task that costs more than the rows it holds (the suite runs with one); compiling Java
code for each new plan (whole-stage and per-expression codegen) costs more than interpreting a few rows (both off:
a warm in-process pipeline run took 46 s with expression codegen, 34 s interpreted). The JVM keeps its optimizing
JIT: a worker plans queries for minutes, and a repeated tiny ingest ran 46 s warm with the quick C1 compiler only
against 31 s with the parallel collector and full tiering. None of this changes results.
`make test` runs two pytest-xdist workers, one file per worker at a time (``--dist loadfile``): module fixtures are
built once, and one worker's planning overlaps the other's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from seglib.config import SparkSettings
from seglib.session import build_spark

# A developer's exported tracking server must not receive the tests' runs: without a configured
# mlflow.tracking_uri, seglib reads MLFLOW_TRACKING_URI (tests that need it set it themselves).
os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="session")
def spark_tmp() -> Path:
    path = Path(tempfile.mkdtemp(prefix="seglib-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def spark(spark_tmp):
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    settings = SparkSettings(
        home="local",
        master="local[2]",
        shuffle_partitions=1,
        driver_memory="3g",
        conf={
            "spark.default.parallelism": "2",
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
            "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
        },
    )
    session = build_spark(settings, app_name="seglib-tests", warehouse_dir=str(spark_tmp))
    yield session
    session.stop()


@pytest.fixture
def tmp_table(tmp_path):
    """A fresh Delta table location per test."""
    counter = iter(range(1000))

    def make(name: str = "t") -> str:
        return str(tmp_path / f"{name}_{next(counter)}")

    return make
