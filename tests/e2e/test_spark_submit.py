"""The jobs run under spark-submit on a real multi-process standalone cluster (master + worker JVMs on loopback)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seglib.session import local_jars

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def standalone_master(tmp_path_factory):
    logs = tmp_path_factory.mktemp("standalone")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    spark_class = str(BIN / "spark-class")
    master_log = (logs / "master.log").open("w")
    worker_log = (logs / "worker.log").open("w")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(ui)],
        env=env, stdout=master_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        _wait_for_port(port)
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory", "3g",
             "--webui-port", str(worker_ui), "--work-dir", str(logs / "work")],
            env=env, stdout=worker_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(3)
        yield url, logs / "work"
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
        master_log.close()
        worker_log.close()


def test_run_pipeline_job_under_spark_submit(standalone_master, tmp_path):
    master_url, work_dir = standalone_master
    warehouse = tmp_path / "wh"
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SEGLIB_PSEUDONYM_KEY": "00" * 32,
    }
    cmd = [
        str(BIN / "spark-submit"),
        "--master", master_url,
        "--jars", ",".join(local_jars()),
        "--conf", "spark.executor.memory=1g",
        "--conf", "spark.sql.shuffle.partitions=4",
        str(REPO / "jobs" / "run_pipeline.py"),
        "--config", str(REPO / "conf" / "cluster.yaml"),
        "--set", f"warehouse.path={warehouse}",
        "--set", "generator.customers=80",
        "--set", "generator.days=30",
        "--set", "generator.events_per_customer=15",
        "--set", "clustering.k_min=3",
        "--set", "clustering.k_max=3",
        "--set", "generator.end_date=2026-06-01",
        "--as-of", "2026-06-01",
        "--generate",
    ]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    assert "snapshot 2026-06-01" in out.stdout
    assert (warehouse / "segments" / "segment_membership" / "_delta_log").is_dir()
    # The work really ran on the cluster: the worker launched executors for the application.
    assert list(work_dir.glob("app-*/*/stderr")), "no executor ran on the standalone worker"
