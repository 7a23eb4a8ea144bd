"""The suite's one pipeline run: `jobs/run_pipeline.py` under spark-submit on a real standalone cluster (master and
worker JVMs on loopback), writing to a warehouse given as a ``file://`` URI.

One run serves every end-to-end test in ``test_pipeline.py``: that it ran distributed, then what it wrote (every
layer, no raw identifier or PII anywhere), then an in-process erasure. The job calls
the same ``seg run`` entry point as the CLI, so this is also the in-process pipeline's end-to-end coverage.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from seglib.config import SeglibConfig, load_config
from seglib.session import local_jars

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AS_OF = "2026-06-01"
KEY = "5eb1" * 16  # a throwaway key for these tests only: the job's environment, and scoped in-process commands
# The quick C1 JIT only: master and worker only route messages, and the job's driver and executor live about a
# minute on tiny data, too short to repay C2 compiles (run alone: 90 s with full tiering, 71 s with C1 in both).
QUICK_JIT = "-XX:TieredStopAtLevel=1"
TEST_JVM = "-XX:+UseParallelGC"  # as tests/conftest.py
CONFIG = REPO / "conf" / "cluster.yaml"
# The smallest world that still has every table, bad rows to quarantine and a few segments to find.
OVERRIDES = (
    "generator.customers=80",
    "generator.days=30",
    "generator.events_per_customer=15",
    "generator.bad_row_share=0.05",
    f"generator.end_date={AS_OF}",  # the history ends at the snapshot (conf/base.yaml fixes the demo's date)
    "clustering.k_min=2",
    "clustering.k_max=3",
    "clustering.seeds_per_k=1",
    "clustering.stability_resamples=2",
    # Propensity on a 30-day history: 7-day label windows, one training cut-off before the holdout, a one-model grid.
    "propensity.targets.purchase.window_days=7",
    "propensity.targets.churn.window_days=7",
    "propensity.targets.upgrade.enabled=false",  # 80 customers make a handful of upgrades a week
    "propensity.training_snapshots=1",  # one training cut-off: no calibration split, one feature build less
    "propensity.snapshot_step_days=3",
    "propensity.min_positives=3",
    "propensity.grid={max_depth: [2], max_iter: [5], step_size: [0.3]}",
    "propensity.num_folds=2",
    "propensity.champion_gate=[]",
    # Predicted CLV is not identifiable from a handful of repeat buyers in 30 days (the fit is refused, as it should
    # be): tests/modeling/test_planted_worlds.py runs the CLV stage on a 180-day world.
    "clv.enabled=false",
)


@dataclass(frozen=True)
class SubmittedRun:
    cfg: SeglibConfig  # the job's config, for reading its tables in-process
    cli_args: list[str]  # --config/--set arguments addressing the same warehouse from `seg`
    stdout: str
    work_dir: Path  # the standalone worker's work dir (one folder per executor)


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


def _standalone_cluster_env() -> dict[str, str]:
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_DAEMON_JAVA_OPTS": QUICK_JIT,  # master and worker
    }
    env.pop("PYSPARK_GATEWAY_PORT", None)
    return env


@pytest.fixture(scope="package")
def submitted_run(tmp_path_factory) -> SubmittedRun:
    base = tmp_path_factory.mktemp("e2e")
    warehouse = f"file://{base}/wh"
    overrides = [f"warehouse.path={warehouse}", *OVERRIDES]
    cli_args = ["--config", str(CONFIG), *[a for o in overrides for a in ("--set", o)]]
    env = _standalone_cluster_env()
    spark_class = str(BIN / "spark-class")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    work_dir = base / "work"
    procs: list[subprocess.Popen] = []
    with (base / "master.log").open("w") as master_log, (base / "worker.log").open("w") as worker_log:
        try:
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                 "--webui-port", str(ui)],
                env=env, stdout=master_log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
            _wait_for_port(port)
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory", "2g",
                 "--webui-port", str(worker_ui), "--work-dir", str(work_dir)],
                env=env, stdout=worker_log, stderr=subprocess.STDOUT,
            ))  # fmt: skip
            cmd = [
                str(BIN / "spark-submit"),
                "--master", url,
                "--jars", ",".join(local_jars()),
                "--conf", "spark.executor.memory=1g",
                "--conf", "spark.sql.shuffle.partitions=2",  # two tasks per shuffle: work crosses both cores
                # Tiny data: the suite's settings (tests/conftest.py) for driver and executor alike; INFO logs of
                # every task and Delta snapshot (11k lines) are not read.
                "--conf", f"spark.driver.extraJavaOptions={TEST_JVM} {QUICK_JIT}",
                "--conf", f"spark.executor.extraJavaOptions={TEST_JVM} {QUICK_JIT}",
                "--conf", "spark.sql.codegen.wholeStage=false",
                "--conf", "spark.sql.codegen.factoryMode=NO_CODEGEN",
                "--conf", "spark.log.level=WARN",
                # Delta rebuilds a table's state on 50 tasks by default: for a tiny log, 48 of them are pure overhead.
                "--conf", "spark.databricks.delta.snapshotPartitions=2",
                str(REPO / "jobs" / "run_pipeline.py"),
                *cli_args,
                "--as-of", AS_OF,
                "--generate",
            ]  # fmt: skip
            # The application waits for the worker to register and offer its executor.
            out = subprocess.run(
                cmd, env={**env, "SEGLIB_PSEUDONYM_KEY": KEY}, capture_output=True, text=True, timeout=1200, cwd=base
            )
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
    assert out.returncode == 0, out.stderr[-4000:]
    return SubmittedRun(cfg=load_config([CONFIG], overrides), cli_args=cli_args, stdout=out.stdout, work_dir=work_dir)
