"""The one place a SparkSession is built, for the three homes seglib runs in.

- ``local``: the embedded default. ``spark.master`` from config or ``local[*]``; the pinned jars Maven resolved into
  ``jars/lib`` (see ``jars/pom.xml``; another folder with ``$SEGLIB_JARS_DIR``); UTC, the UI off unless
  ``spark.ui_enabled``, ``spark.shuffle_partitions`` for Spark's and Delta's shuffles, the catalog's warehouse dir
  under ``<warehouse.path>/_catalog``.
- ``cluster``: ``spark-submit``. Master, jars/packages, resources and shuffle partitions come from the submitter (its
  ``--conf`` or the cluster's ``spark-defaults.conf``); seglib sets Delta's extension and catalog (and the redaction
  below), nothing else. These replace a ``spark.sql.extensions`` the submitter set: to run another extension beside
  Delta, list both in the config's ``spark.conf``, which is applied last (in every home).
- ``databricks``: reuse the active session; Delta is built in. ``spark.conf`` is set at run time where the session
  allows it (a static setting is logged and skipped).

In every home, key material is redacted from query plans (``spark.sql.redaction.string.regex``): a pseudonym is a
Spark expression whose HMAC pads are binary literals, so executors receive them with their tasks and need no key of
their own; only the driver reads the key (``seglib.privacy.keys``).

``auto`` picks ``databricks`` when ``DATABRICKS_RUNTIME_VERSION`` is set, ``cluster`` when the Python process was
launched by ``spark-submit`` (the JVM gateway already exists), else ``local``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from seglib.errors import MissingInputError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

    from seglib.config import SparkSettings

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
JARS_DIR_ENV = "SEGLIB_JARS_DIR"
# Pseudonyms are Spark expressions whose HMAC key pads are 64-byte binary literals: redact them from plans shown in
# explain(), the UI and event logs, so the key never appears outside the process that loaded it.
KEY_LITERAL_REDACTION = "0x[0-9A-Fa-f]{128}"
REDACTION_CONF = "spark.sql.redaction.string.regex"


def detect_home() -> str:
    """Which home this process runs in, from the environment alone."""
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return "databricks"
    # spark-submit starts the JVM first and hands Python the gateway port.
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        return "cluster"
    return "local"


def default_jars_dir() -> Path:
    """``$SEGLIB_JARS_DIR`` or ``<repo>/jars/lib`` (where ``make install`` puts the Maven-resolved jars)."""
    env = os.environ.get(JARS_DIR_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "jars" / "lib"


def local_jars(jars_dir: Path | None = None) -> list[str]:
    """The jar files for the local home; a clear error when they were never resolved."""
    directory = jars_dir or default_jars_dir()
    jars = sorted(str(p) for p in directory.glob("*.jar")) if directory.is_dir() else []
    if not any("delta-spark" in Path(j).name for j in jars):
        raise MissingInputError(
            f"Delta Lake jars not found in {directory}: run `make install` (Maven resolves jars/pom.xml into "
            f"jars/lib), or set {JARS_DIR_ENV} to a folder holding them"
        )
    return jars


def build_spark(settings: SparkSettings, app_name: str = "seglib", warehouse_dir: str | None = None) -> SparkSession:
    """Build (or reuse) the SparkSession for ``settings.home``."""
    from pyspark.sql import SparkSession

    home = detect_home() if settings.home == "auto" else settings.home
    if home == "databricks":
        active = SparkSession.getActiveSession()
        spark = active if active is not None else SparkSession.builder.getOrCreate()
        _apply_runtime_conf(spark, {REDACTION_CONF: _redaction_regex(settings.conf), **settings.conf})
        return spark

    builder = SparkSession.builder.appName(app_name)
    if home == "local":
        builder = (
            builder.master(settings.master or "local[*]")
            .config("spark.jars", ",".join(local_jars()))
            .config("spark.ui.enabled", str(settings.ui_enabled).lower())
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", settings.driver_memory)
            .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
            # Delta's own snapshot-state shuffles default to 50 partitions: far too many for a laptop.
            .config("spark.databricks.delta.snapshotPartitions", str(max(1, settings.shuffle_partitions)))
            # VACUUM/file listing otherwise fans out to 10,000 tiny tasks.
            .config("spark.sql.sources.parallelPartitionDiscovery.parallelism", str(settings.shuffle_partitions * 2))
        )
        if warehouse_dir:
            builder = builder.config("spark.sql.warehouse.dir", str(Path(warehouse_dir) / "_catalog"))
    # local and cluster: Delta's extension and catalog, in place of any the submitter set (spark.conf comes last).
    builder = builder.config("spark.sql.extensions", DELTA_EXTENSION).config(
        "spark.sql.catalog.spark_catalog", DELTA_CATALOG
    )
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    builder = builder.config(REDACTION_CONF, _redaction_regex(settings.conf))
    spark = builder.getOrCreate()
    if home == "local":
        spark.sparkContext.setLogLevel(settings.log_level)
    log.info("Spark %s session ready (home=%s)", spark.version, home)
    return spark


def _redaction_regex(conf: dict[str, str]) -> str:
    """The key-literal pattern, combined with any redaction pattern the user configured."""
    user = conf.get(REDACTION_CONF)
    return f"{user}|{KEY_LITERAL_REDACTION}" if user else KEY_LITERAL_REDACTION


def _apply_runtime_conf(spark: SparkSession, conf: dict[str, str]) -> None:
    for key, value in conf.items():
        try:
            spark.conf.set(key, value)
        except Exception as exc:  # static confs cannot change on a running cluster: say so, go on
            log.warning("could not set %s on the active session: %s", key, exc)
