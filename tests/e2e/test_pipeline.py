"""The whole pipeline in-process on tiny generated data: raw -> silver -> features -> model -> segments, then
privacy checks over every table written (values, not just schemas) and an erasure request end to end.

The warehouse is given as a ``file://`` URI, as a warehouse on HDFS/S3/ABFS would be: every stage, and erasure in
particular, must address tables through the registry, never by listing local folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from seglib.cli import main
from seglib.config import load_config
from seglib.delta_io import read_table
from seglib.privacy.erasure import existing_owned_tables
from seglib.tables import Warehouse

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-06-01"


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    warehouse = f"file://{tmp_path_factory.mktemp('e2e')}/wh"
    overrides = [
        f"warehouse.path={warehouse}",
        "spark.home=local",
        "spark.shuffle_partitions=1",  # the run reuses the suite's session: keep its settings
        "generator.customers=120",
        "generator.days=60",
        "generator.events_per_customer=25",
        "generator.bad_row_share=0.05",
        f"generator.end_date={AS_OF}",  # the history ends at the snapshot (conf/base.yaml fixes the demo's date)
        "clustering.k_max=4",
        "clustering.seeds_per_k=1",
        "clustering.stability_resamples=2",
    ]
    args = ["--config", str(REPO / "conf" / "local.yaml"), *[a for o in overrides for a in ("--set", o)]]
    with pytest.MonkeyPatch.context() as env:
        # A throwaway key for these tests only (scoped: later tests do not inherit it).
        env.setenv("SEGLIB_PSEUDONYM_KEY", "5eb1" * 16)
        assert main(["run", "--generate", "--as-of", AS_OF, *args]) == 0
        yield load_config([REPO / "conf" / "local.yaml"], overrides), args


def _owned_tables(spark, cfg) -> dict[str, str]:
    return existing_owned_tables(spark, cfg, "test")


def test_pipeline_writes_every_layer(spark, demo_run):
    cfg, _ = demo_run
    tables = Warehouse.of(cfg)
    membership = read_table(spark, tables.location("segments/segment_membership"))
    features = read_table(spark, tables.location("features/subject_features"))
    assert membership.count() == features.count() > 0
    assert 2 <= membership.select("segment_id").distinct().count() <= 4
    assert membership.where(F.col("segment_name").isNull()).count() == 0


def test_no_raw_identifier_or_pii_value_reaches_silver_or_later(spark, demo_run):
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
    leaks = []
    for name, location in _owned_tables(spark, cfg).items():
        df = read_table(spark, location)
        string_cols = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        if not string_cols:
            continue
        values = df.select(F.explode(F.array(*[F.col(c) for c in string_cols])).alias("value")).distinct()
        exact = values.join(secrets, values.value == secrets.secret).count()
        inside = values.join(emails, values.value.contains(emails.secret)).count()
        if exact or inside:
            leaks.append((name, exact, inside))
    assert leaks == []


def test_erasure_removes_a_subject_end_to_end(spark, demo_run):
    cfg, args = demo_run
    tables = Warehouse.of(cfg)
    crm = read_table(spark, tables.location("raw/raw_crm_customers"))
    from seglib.privacy.keys import load_key_ring
    from seglib.privacy.pseudonymize import pseudonym

    ring = load_key_ring(cfg.privacy, env={"SEGLIB_PSEUDONYM_KEY": "5eb1" * 16})
    membership = read_table(spark, tables.location("segments/segment_membership"))
    with_pseudo = crm.select("customer_id", pseudonym(F.col("customer_id"), ring).alias("subject_id")).distinct()
    victim = with_pseudo.join(membership.select("subject_id"), "subject_id").orderBy("customer_id").first()
    assert victim is not None
    before = {
        n: read_table(spark, loc).where(F.col("subject_id") == victim["subject_id"]).count()
        for n, loc in _owned_tables(spark, cfg).items()
        if "subject_id" in read_table(spark, loc).columns
    }
    assert before["silver/events"] > 0 and before["segments/segment_membership"] == 1
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGLIB_PSEUDONYM_KEY", "5eb1" * 16)
        assert main(["forget", "--subject", victim["customer_id"], *args]) == 0
    for name, location in _owned_tables(spark, cfg).items():
        df = read_table(spark, location)
        if "subject_id" in df.columns:
            assert df.where(F.col("subject_id") == victim["subject_id"]).count() == 0, name
    log = read_table(spark, tables.location("ops/erasure_log"))
    assert log.count() >= 1
    assert victim["customer_id"] not in str(log.collect()) and victim["subject_id"] not in str(log.collect())
