"""The whole pipeline in-process on tiny generated data: raw -> silver -> features -> model -> segments, then
privacy checks over every table written (values, not just schemas) and an erasure request end to end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from seglib.cli import main
from seglib.config import load_config
from seglib.delta_io import Tables, read_table, table_exists

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-06-01"


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("e2e") / "wh"
    # A throwaway key for the test run only; real runs read it from the environment or a secret scope.
    os.environ.setdefault("SEGLIB_PSEUDONYM_KEY", "5eb1" * 16)
    overrides = [
        f"warehouse.path={warehouse}",
        "spark.home=local",
        "spark.shuffle_partitions=2",  # the run reuses the suite's session: keep its settings
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
    assert main(["run", "--generate", "--as-of", AS_OF, *args]) == 0
    return load_config([REPO / "conf" / "local.yaml"], overrides), args


def _owned_tables(spark, cfg) -> dict[str, str]:
    root = Path(cfg.warehouse.path)
    found = {}
    for layer in ("silver", "features", "segments", "ops"):
        for path in sorted((root / layer).glob("*")) if (root / layer).is_dir() else []:
            if table_exists(spark, str(path)):
                found[f"{layer}/{path.name}"] = str(path)
    return found


def test_pipeline_writes_every_layer(spark, demo_run):
    cfg, _ = demo_run
    tables = Tables(cfg.warehouse)
    membership = read_table(spark, tables.location("segments", "segment_membership"))
    features = read_table(spark, tables.location("features", "subject_features"))
    assert membership.count() == features.count() > 0
    assert 2 <= membership.select("segment_id").distinct().count() <= 4
    assert membership.where(F.col("segment_name").isNull()).count() == 0


def test_no_raw_identifier_or_pii_value_reaches_silver_or_later(spark, demo_run):
    cfg, _ = demo_run
    raw = Tables(cfg.warehouse)
    crm = read_table(spark, raw.location("raw", "raw_crm_customers"))
    events = read_table(spark, raw.location("raw", "raw_events"))
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
    tables = Tables(cfg.warehouse)
    crm = read_table(spark, tables.location("raw", "raw_crm_customers"))
    from seglib.privacy.keys import load_key_ring
    from seglib.privacy.pseudonymize import pseudonym

    ring = load_key_ring(cfg.privacy)
    membership = read_table(spark, tables.location("segments", "segment_membership"))
    with_pseudo = crm.select("customer_id", pseudonym(F.col("customer_id"), ring).alias("subject_id")).distinct()
    victim = with_pseudo.join(membership.select("subject_id"), "subject_id").orderBy("customer_id").first()
    assert victim is not None
    assert main(["forget", "--subject", victim["customer_id"], *args]) == 0
    for name, location in _owned_tables(spark, cfg).items():
        df = read_table(spark, location)
        if "subject_id" in df.columns:
            assert df.where(F.col("subject_id") == victim["subject_id"]).count() == 0, name
    log = read_table(spark, tables.location("ops", "erasure_log"))
    assert log.count() >= 1
    assert victim["customer_id"] not in str(log.collect()) and victim["subject_id"] not in str(log.collect())
