"""What the pipeline run (conftest.py: the README's spark-submit example on a standalone cluster) did and wrote, read
in-process: that it ran distributed with the documented MLflow store, every layer, privacy checks over every table
(values, not just schemas) and an erasure request end to end.

The warehouse is given as a ``file://`` URI, as a warehouse on HDFS/S3/ABFS would be: every stage, and erasure in
particular, must address tables through the registry, never by listing local folders."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from seglib.cli import main
from seglib.delta_io import read_table
from seglib.privacy.erasure import existing_owned_tables
from seglib.tables import Warehouse

from .conftest import KEY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_run(submitted_run):
    return submitted_run.cfg, submitted_run.cli_args


@pytest.fixture(scope="module")
def owned(spark, demo_run) -> dict[str, str]:
    """The run's owned tables (name -> location), as erasure finds them; looked up once for the module."""
    return existing_owned_tables(spark, demo_run[0], "test")


def test_the_readme_command_ran_distributed_with_its_mlflow_store(submitted_run):
    """The README's example ran an executor on the standalone worker and tracked to the store it exports as
    MLFLOW_TRACKING_URI (here a sqlite file), not to the embedded one beside the ``file://`` warehouse."""
    assert list(submitted_run.work_dir.glob("app-*/*/stderr")), "no executor ran on the worker"
    assert f"mlflow: sqlite:///{submitted_run.tracking_db}" in submitted_run.stdout
    assert submitted_run.tracking_db.is_file()
    assert not (submitted_run.tracking_db.parent / "mlflow.db").exists()


def test_pipeline_writes_every_layer(spark, demo_run, owned):
    cfg, _ = demo_run
    tables = Warehouse.of(cfg)
    assert {
        "silver/events",
        "features/subject_features",
        "models/propensity_scores",
        "segments/segment_profiles",
        "ops/quarantine",
    } <= set(owned)
    membership = read_table(spark, tables.location("segments/segment_membership")).where("segment_family = 'cluster'")
    subjects = read_table(spark, tables.location("features/subject_features")).count()
    got = membership.agg(
        F.count(F.lit(1)).alias("members"),
        F.count_distinct("segment_id").alias("segments"),
        F.count(F.when(F.col("segment_name").isNull(), 1)).alias("unnamed"),
    ).first()
    assert got["members"] == subjects > 0
    assert 2 <= got["segments"] <= 4
    assert got["unnamed"] == 0
    # Both propensity targets scored every feature row of the snapshot, in three tiers, by a registered version.
    scores = read_table(spark, tables.location("models/propensity_scores"))
    per_target = {
        r.target: r
        for r in scores.groupBy("target")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sort_array(F.collect_set("tier")).alias("tiers"),
            F.min("score").alias("low"),
            F.max("score").alias("high"),
            F.count_distinct("model_version").alias("versions"),
        )
        .collect()
    }
    assert set(per_target) == {"purchase", "churn"}
    for row in per_target.values():
        assert (row.rows, row.tiers, row.versions) == (subjects, ["high", "low", "medium"], 1)
        assert 0.0 <= row.low < row.high <= 1.0


def test_segment_tables_combine_every_family_with_lineage(spark, demo_run):
    cfg, _ = demo_run
    tables = Warehouse.of(cfg)
    membership = read_table(spark, tables.location("segments/segment_membership"))
    subjects = read_table(spark, tables.location("features/subject_features")).count()
    per_family = {
        r.segment_family: r
        for r in membership.groupBy("segment_family")
        .agg(F.count(F.lit(1)).alias("rows"), F.count_distinct("subject_id").alias("subjects"))
        .collect()
    }
    # Exclusive families: one row per subject (the tags family has any number, CLV only buyers).
    for family in ("cluster", "playbook", "propensity_purchase", "propensity_churn"):
        assert per_family[family].rows == per_family[family].subjects == subjects, family
    lineage = membership.select("run_id", "config_hash", "input_versions", "model_versions").first()
    assert set(lineage.input_versions) >= {"features/subject_features", "models/cluster_assignments", "silver/events"}
    assert {"seglib_clustering", "seglib_propensity_purchase"} <= set(lineage.model_versions)
    history = read_table(spark, tables.location("segments/segment_membership_history"))
    assert history.where("is_current").count() == membership.count()
    definitions = read_table(spark, tables.location("segments/segment_definitions"))
    assert definitions.where("segment_family = 'playbook'").count() == 7  # six playbook rules + the fallback
    profiles = read_table(spark, tables.location("segments/segment_profiles"))
    assert profiles.where("segment_family = 'cluster'").agg(F.sum("size")).first()[0] == subjects


def test_no_raw_identifier_or_pii_value_reaches_silver_or_later(spark, demo_run, owned):
    cfg, _ = demo_run
    raw = Warehouse.of(cfg)
    crm = read_table(spark, raw.location("raw/raw_crm_customers"))
    events = read_table(spark, raw.location("raw/raw_events"))
    secrets = (
        crm.select(F.explode(F.array("customer_id", "email", "phone", "first_name", "last_name", "postal_code")))
        .union(events.select(F.explode(F.array("anonymous_id", "customer_id", "session_id", "event_id"))))
        .where(F.col("col").isNotNull() & (F.length("col") >= 4))
        .distinct()
        .withColumnRenamed("col", "secret")
    )
    emails = crm.select(F.col("email").alias("secret")).where(F.col("secret").isNotNull()).distinct()
    # Every string value of every owned table in one DataFrame (tagged with its table): two joins, not two per table.
    values = None
    for name, location in owned.items():
        df = read_table(spark, location)
        string_cols = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        if string_cols:
            tagged = df.select(F.lit(name).alias("table"), F.explode(F.array(*string_cols)).alias("value"))
            values = tagged if values is None else values.unionByName(tagged)
    values = values.distinct().localCheckpoint()
    exact = values.join(secrets, values.value == secrets.secret).select("table", "secret")
    inside = values.join(emails, values.value.contains(emails.secret)).select("table", "secret")
    assert exact.union(inside).collect() == []


def _rows_of(spark, owned: dict[str, str], subject_id: str) -> dict[str, int]:
    """Rows keyed by ``subject_id`` per owned table that has the column (one query over all of them)."""
    parts = []
    for name, location in owned.items():
        df = read_table(spark, location)
        if "subject_id" in df.columns:
            parts.append(df.where(F.col("subject_id") == subject_id).select(F.lit(name).alias("table")))
    counts = parts[0]
    for part in parts[1:]:
        counts = counts.unionByName(part)
    return {r["table"]: r["count"] for r in counts.groupBy("table").count().collect()}


def test_erasure_removes_a_subject_end_to_end(spark, demo_run, owned):
    cfg, args = demo_run
    tables = Warehouse.of(cfg)
    crm = read_table(spark, tables.location("raw/raw_crm_customers"))
    from seglib.privacy.keys import load_key_ring
    from seglib.privacy.pseudonymize import pseudonym

    ring = load_key_ring(cfg.privacy, env={"SEGLIB_PSEUDONYM_KEY": KEY})
    membership = read_table(spark, tables.location("segments/segment_membership"))
    with_pseudo = crm.select("customer_id", pseudonym(F.col("customer_id"), ring).alias("subject_id")).distinct()
    victim = with_pseudo.join(membership.select("subject_id"), "subject_id").orderBy("customer_id").first()
    assert victim is not None
    before = _rows_of(spark, owned, victim["subject_id"])
    assert before["silver/events"] > 0 and before["segments/segment_membership"] >= 2  # cluster, playbook, tiers
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGLIB_PSEUDONYM_KEY", KEY)
        assert main(["forget", "--subject", victim["customer_id"], *args]) == 0
    assert _rows_of(spark, owned, victim["subject_id"]) == {}
    log = read_table(spark, tables.location("ops/erasure_log"))
    assert log.count() >= 1
    assert victim["customer_id"] not in str(log.collect()) and victim["subject_id"] not in str(log.collect())
