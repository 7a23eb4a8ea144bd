"""The suite's one pipeline run: the README's spark-submit example, as written, on a real standalone cluster (master
and worker JVMs on loopback), writing to a warehouse given as a ``file://`` URI.

The command is read out of README.md (between ``<!-- spark-submit example`` and ``<!-- /spark-submit example -->``),
so the documented command and the tested one cannot drift apart. Only these are substituted: the master URL, the
paths (the warehouse, the MLflow server by a sqlite file, the job and config files made absolute) and, offline, the
``--packages`` coordinates by ``--jars`` with the same Delta release from jars/lib. The test appends arguments for
a tiny generated world; its spark-defaults.conf (``SPARK_CONF_DIR``, as a cluster's) holds the tiny-data settings.

One run serves every end-to-end test in ``test_pipeline.py``: that it ran distributed with the documented MLflow
store, then what it wrote (every layer, no raw identifier or PII anywhere), then an in-process erasure. The job calls
the same ``seg run`` entry point as the CLI, so this is also the in-process pipeline's end-to-end coverage.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
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
README = REPO / "README.md"
EXAMPLE_START, EXAMPLE_END = "<!-- spark-submit example", "<!-- /spark-submit example -->"
# What the README's example names that only exists on a real cluster; the test substitutes each of them.
DOCUMENTED_MASTER = "spark://host:7077"
DOCUMENTED_WAREHOUSE = "hdfs:///seglib/wh"
DOCUMENTED_MLFLOW = "http://mlflow.internal:5000"
DOCUMENTED_DELTA = "io.delta:delta-spark_4.1_2.13:4.4.0"  # --packages: Maven Central, out of reach offline
DOCUMENTED_FILES = ("jobs/run_pipeline.py", "conf/cluster.yaml")  # relative to a checkout; the job runs elsewhere
CONFIG = REPO / "conf" / "cluster.yaml"
# Tiny data: the suite's settings (tests/conftest.py) for driver and executor alike; two tasks per shuffle, so work
# crosses both cores; Delta rebuilds a table's state on 50 tasks by default (for a tiny log, 48 of them are pure
# overhead); INFO logs of every task and Delta snapshot (11k lines) are not read. A cluster's spark-defaults.conf.
SPARK_DEFAULTS = {
    "spark.executor.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.extraJavaOptions": f"{TEST_JVM} {QUICK_JIT}",
    "spark.executor.extraJavaOptions": f"{TEST_JVM} {QUICK_JIT}",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.log.level": "WARN",
    "spark.databricks.delta.snapshotPartitions": "2",
}
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
    "propensity.registry.champion_gate=[]",
    # Predicted CLV is not identifiable from a handful of repeat buyers in 30 days (the fit is refused, as it should
    # be): tests/e2e/test_foreign_data.py runs CLV through `seg run` on CDNOW orders; tests/modeling/test_clv.py
    # tests the fit.
    "clv.enabled=false",
)


@dataclass(frozen=True)
class SubmittedRun:
    cfg: SeglibConfig  # the job's config, for reading its tables in-process
    cli_args: list[str]  # --config/--set arguments addressing the same warehouse from `seg`
    stdout: str
    work_dir: Path  # the standalone worker's work dir (one folder per executor)
    tracking_db: Path  # the sqlite file standing in for the README's MLflow server


def documented_example() -> tuple[dict[str, str], list[str]]:
    """The README's spark-submit example as a shell reads it: the variables it exports and spark-submit's argv.

    Only ``export NAME=value`` lines and one ``spark-submit`` command (``\\`` continuations, ``#`` comments) are
    accepted, without ``$`` expansions: anything else would not run here as written."""
    text = README.read_text()
    start = text.index(EXAMPLE_START)
    block = text[start : text.index(EXAMPLE_END, start)]
    fence = re.search(r"```bash\n(.*?)```", block, re.DOTALL)
    assert fence, "README's spark-submit example has no ```bash block between its markers"
    exports: dict[str, str] = {}
    argv: list[str] = []
    for line in textwrap.dedent(fence.group(1)).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        assert not any("$" in w or "`" in w for w in words), f"README's spark-submit example: not expanded: {line!r}"
        if words[0] == "export" and len(words) == 2 and "=" in words[1]:
            name, value = words[1].split("=", 1)
            exports[name] = value
        elif words[0] == "spark-submit" and not argv:
            argv = words
        else:
            raise AssertionError(f"README's spark-submit example: a line the test cannot run as written: {line!r}")
    assert argv, "README's spark-submit example has no spark-submit command"
    return exports, argv


def _substituted(words: list[str], replacements: dict[str, str]) -> list[str]:
    """``words`` with every documented placeholder replaced; each must occur (else the README changed under us)."""
    seen: set[str] = set()
    out = []
    for word in words:
        for old, new in replacements.items():
            if old in word:
                word = word.replace(old, new)
                seen.add(old)
        out.append(word)
    assert seen == set(replacements), f"README's spark-submit example no longer names {set(replacements) - seen}"
    return out


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


def documented_command(base: Path, master_url: str) -> tuple[dict[str, str], list[str], Path]:
    """The README's example for this machine: its exports and argv with only the master URL, the paths and (offline)
    ``--packages`` substituted, then the tiny world appended; and the sqlite file standing in for its MLflow server."""
    exports, argv = documented_example()
    tracking_db = base / "tracking.db"
    # The one variable it exports names the MLflow server: a sqlite file beside the warehouse stands in for it.
    assert exports == {"MLFLOW_TRACKING_URI": DOCUMENTED_MLFLOW}, exports
    exports = {"MLFLOW_TRACKING_URI": f"sqlite:///{tracking_db}"}
    replacements = {DOCUMENTED_MASTER: master_url, DOCUMENTED_WAREHOUSE: f"file://{base}/wh"}
    argv = _substituted(argv, replacements)
    assert [w for w in argv if w in DOCUMENTED_FILES] == list(DOCUMENTED_FILES), argv
    argv = [str(REPO / w) if w in DOCUMENTED_FILES else w for w in argv]
    # --packages resolves Maven coordinates (Maven Central, out of reach here): the same release from jars/lib.
    at = argv.index("--packages")
    assert argv[at + 1] == DOCUMENTED_DELTA, argv[at + 1]
    jars = local_jars()
    _, artifact, release = DOCUMENTED_DELTA.split(":")
    assert f"{artifact}-{release}.jar" in {Path(j).name for j in jars}, "jars/lib holds another Delta release"
    argv[at : at + 2] = ["--jars", ",".join(jars)]
    tiny_world = [a for o in OVERRIDES for a in ("--set", o)]
    return exports, [*argv, *tiny_world, "--as-of", AS_OF, "--generate"], tracking_db


@pytest.fixture(scope="package")
def submitted_run(tmp_path_factory) -> SubmittedRun:
    base = tmp_path_factory.mktemp("e2e")
    env = _standalone_cluster_env()
    spark_class = str(BIN / "spark-class")
    port, ui, worker_ui = _free_port(), _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    exports, cmd, tracking_db = documented_command(base, url)
    # The cluster's configuration directory, as on any cluster: spark-submit reads its spark-defaults.conf.
    conf_dir = base / "spark-conf"
    conf_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in SPARK_DEFAULTS.items()))
    submit_env = {
        **env,
        **exports,
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # seglib's environment, as if activated
        "SPARK_CONF_DIR": str(conf_dir),
        "SEGLIB_PSEUDONYM_KEY": KEY,
    }
    # In-process commands address the same warehouse and MLflow store as the job.
    overrides = [
        f"warehouse.path=file://{base}/wh",
        f"mlflow.tracking_uri={exports['MLFLOW_TRACKING_URI']}",
        *OVERRIDES,
    ]
    cli_args = ["--config", str(CONFIG), *[a for o in overrides for a in ("--set", o)]]
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
            # The application waits for the worker to register and offer its executor.
            out = subprocess.run(cmd, env=submit_env, capture_output=True, text=True, timeout=1200, cwd=base)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                proc.wait(timeout=30)
    # spark-submit merges the Python driver's stderr (seglib's log, its one-line errors) into stdout; the JVM's log
    # is stderr. Both are kept beside the master's and the worker's.
    (base / "job.stdout").write_text(out.stdout)
    (base / "job.stderr").write_text(out.stderr)
    assert out.returncode == 0, f"{out.stderr[-2000:]}\n{out.stdout[-3000:]}\n(whole logs: {base}/job.std*)"
    return SubmittedRun(
        cfg=load_config([CONFIG], overrides),
        cli_args=cli_args,
        stdout=out.stdout,
        work_dir=work_dir,
        tracking_db=tracking_db,
    )
