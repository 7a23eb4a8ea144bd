"""run_ingest end to end on tiny literal raw tables."""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglib.config import load_config
from seglib.delta_io import TableSpec, read_table, write_table
from seglib.tables import Warehouse, table, tables_in

CONF = Path(__file__).resolve().parents[2] / "conf" / "ingest.yaml"
KEY = "ab" * 32
NOW = datetime(2026, 3, 1, 12, 0, 0)
T0 = datetime(2026, 2, 1, 9, 0, 0)
T1 = datetime(2026, 2, 2, 9, 0, 0)
T2 = datetime(2026, 2, 3, 9, 0, 0)

EVENTS = (
    "event_id string, event_ts timestamp, anonymous_id string, customer_id string, session_id string, "
    "event_type string, channel string, device string, country string, content_category string, "
    "product_id string, revenue decimal(18,2), currency string, properties map<string,string>, ingest_note string"
)
CRM = (
    "customer_id string, email string, phone string, first_name string, last_name string, birth_date date, "
    "gender string, country string, postal_code string, income_band string, signup_date date, "
    "company_name string, company_size int, industry string, job_title string, plan string, "
    "updated_at timestamp, is_deleted boolean"
)
ORDERS = (
    "order_id string, customer_id string, order_ts timestamp, amount decimal(18,2), currency string, "
    "status string, items int, product_category string"
)
CONSENTS = "subject_id string, purpose string, granted boolean, updated_at timestamp"
TEXTS = "text_id string, customer_id string, anonymous_id string, source string, text string, created_at timestamp"


def event(eid, ts, anon, cust, etype="page_view", revenue=None, currency=None):
    return (eid, ts, anon, cust, "s1", etype, "web", "mobile", "DE", "shoes", "p1", revenue, currency, {}, "x")


def crm(cid, ts, plan, deleted=False):
    return (
        cid,
        f"{cid}@example.com",
        "+49 170 1234567",
        "Ann",
        "Lee",
        None,
        "f",
        "DE",
        "10115",
        "mid",
        None,
        None,
        None,
        None,
        None,
        plan,
        ts,
        deleted,
    )


RAW = {
    "raw_events": (
        EVENTS,
        [
            event("e1", T0, "a1", None),
            event("e2", T1, "a1", "c1", "login"),
            event("e2", T1, "a1", "c1", "login"),  # exact re-delivery -> duplicate
            event("e3", T1, "a1", "c1", "purchase", Decimal("9.99"), "EUR"),
            event("e4", T1, "a1", None, "page_view", Decimal("5.00"), "EUR"),  # revenue off purchase
            event("e5", T1, "a1", "c1", "purchase", Decimal("5.00"), "eur"),  # bad currency
            event("e6", NOW + timedelta(days=1), "a1", None),  # future
            event("e7", T0, "a2", None),
        ],
    ),
    "raw_crm_customers": (
        CRM,
        [
            crm("c1", T0, "basic"),
            crm("c1", T1, "pro"),
            crm("c2", T0, "basic"),
            crm("c2", T1, "basic", True),
            crm("c3", None, "basic"),
        ],
    ),
    "raw_orders": (
        ORDERS,
        [
            ("o1", "c1", T0, Decimal("10.00"), "EUR", "completed", 1, "shoes"),
            ("o2", "c1", T0, Decimal("20.00"), "EUR", "completed", 2, "shoes"),
            ("o2", "c1", T1, Decimal("20.00"), "EUR", "refunded", 2, "shoes"),
            ("o3", "c1", T0, Decimal("30.00"), "EUR", "cancelled", 1, "bags"),
            ("o4", "c1", T0, Decimal("-5.00"), "EUR", "completed", 1, "bags"),
        ],
    ),
    "raw_consents": (
        CONSENTS,
        [
            ("c1", "analytics", True, T0),
            ("c1", "analytics", False, T1),
            ("a2", "analytics", True, T0),
            ("c1", "spam", True, T0),
        ],
    ),
    "raw_texts": (
        TEXTS,
        [
            ("t1", "c1", None, "review", "mail me at ann@example.com", T0),
            ("t2", None, "a1", "survey", "hi", T0),
            ("t3", "c1", None, "review", None, T0),
        ],
    ),
}

# (read, accepted, quarantined, duplicates)
EXPECTED_COUNTS = {
    "raw_events": (8, 4, 3, 1),
    "raw_crm_customers": (5, 2, 1, 2),
    "raw_orders": (5, 3, 1, 1),
    "raw_consents": (4, 2, 1, 1),
    "raw_texts": (3, 2, 1, 0),
}


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", KEY)


def raw_warehouse(spark, path, names=tuple(RAW)):
    cfg = load_config([CONF], [f"warehouse.path={path}"])
    for name in names:
        schema, rows = RAW[name]
        write_raw(spark, cfg, name, rows, schema)
    return cfg


@pytest.fixture
def env(spark, tmp_path):
    return raw_warehouse(spark, tmp_path / "wh")


@pytest.fixture(scope="module")
def first_run(spark, tmp_path_factory):
    """RAW ingested once (run r1); tests that go on from there (later runs) come after the ones that only read it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGLIB_PSEUDONYM_KEY", KEY)
        cfg = raw_warehouse(spark, tmp_path_factory.mktemp("ingest") / "wh")
        return cfg, ingest(spark, cfg, "r1")


def write_raw(spark, cfg, name, rows, schema, mode="overwrite", overwrite_schema=False):
    location = Warehouse.of(cfg).location(f"raw/{name}")
    write_table(spark.createDataFrame(rows, schema), TableSpec(location), mode=mode, overwrite_schema=overwrite_schema)


def p(value):
    from seglib.privacy.keys import parse_key_ring
    from seglib.privacy.pseudonymize import pseudonym_py

    return pseudonym_py(value, parse_key_ring(KEY).active)


def silver(spark, cfg, name):
    return read_table(spark, Warehouse.of(cfg).location(f"silver/{name}"))


def ingest(spark, cfg, run_id, **kw):
    from seglib.ingest import run_ingest

    return run_ingest(spark, cfg, run_id=run_id, now=NOW, **kw)


def test_first_run_counts_silver_and_quarantine(spark, first_run):
    env, report = first_run
    got = {t: (c.read, c.accepted, c.quarantined, c.duplicates) for t, c in report.tables.items()}
    assert got == EXPECTED_COUNTS
    assert all(c.read == c.accepted + c.quarantined + c.duplicates for c in report.tables.values())

    events = silver(spark, env, "events")
    assert events.count() == report.tables["raw_events"].accepted
    subjects = {r["event_id"]: r["subject_id"] for r in events.collect()}
    # e1 was anonymous, stitched to c1 through a1's login; e7 stays anonymous.
    assert subjects == {p("e1"): p("c1"), p("e2"): p("c1"), p("e3"): p("c1"), p("e7"): p("a2")}
    assert silver(spark, env, "orders").count() == report.tables["raw_orders"].accepted
    net = silver(spark, env, "orders").agg(F.sum("net_amount")).first()[0]
    assert net == Decimal("10.00")
    customers = silver(spark, env, "customers").select("subject_id", "plan").collect()
    assert [tuple(r) for r in customers] == [(p("c1"), "pro")]  # c2's latest version is a deletion
    assert history_rows(spark, env) == [
        (p("c1"), "basic", T0, T1, False, False),
        (p("c1"), "pro", T1, None, True, False),
        (p("c2"), "basic", T0, T1, False, False),
        (p("c2"), None, T1, None, True, True),  # the deletion closes c2's history and keeps no attribute
    ]
    consents = silver(spark, env, "consents").select("subject_id", "analytics").collect()
    assert sorted(tuple(r) for r in consents) == sorted([(p("c1"), False), (p("a2"), True)])
    texts = {r["subject_id"]: r["text"] for r in silver(spark, env, "texts").collect()}
    assert set(texts) == {p("c1")}  # t2's a1 is stitched to c1
    assert not any("ann@example.com" in t for t in texts.values())

    quarantine = read_table(spark, Warehouse.of(env).location("ops/quarantine"))
    assert quarantine.count() == sum(c.quarantined for c in report.tables.values())
    reasons = {r["table_name"]: r["rules"] for r in quarantine.filter("table_name = 'raw_orders'").collect()}
    assert reasons == {"raw_orders": ["amount_non_negative"]}
    payloads = " ".join(r["row_json"] for r in quarantine.collect())
    for leaked in ("@example.com", "1234567", '"e4"', '"c1"', '"c3"', "Ann"):
        assert leaked not in payloads
    assert p("e4") in payloads

    assert report.metrics["raw_events.rows_read"] == 8
    assert report.metrics["raw_events.completeness.customer_id"] == pytest.approx(4 / 8)
    assert report.metrics["raw_events.rule_failures.currency_allowed"] == 1
    assert report.metrics["events.freshness_seconds.event_ts"] == (NOW - T1).total_seconds()
    dq = read_table(spark, Warehouse.of(env).location("ops/dq_metrics"))
    assert dq.filter("run_id = 'r1' AND table_name = 'raw_events' AND metric = 'rows_read'").first()["value"] == 8

    # Every table ingest wrote has exactly its declared columns, types and comments (seglib/tables.py).
    wh = Warehouse.of(env)
    for declared in [*tables_in("silver"), table("ops", "quarantine"), table("ops", "dq_metrics")]:
        stored = read_table(spark, wh.location(declared)).schema
        got = [(f.name, f.dataType.simpleString(), f.metadata.get("comment")) for f in stored.fields]
        want = [(f.name, f.dataType.simpleString(), f.metadata.get("comment")) for f in declared.schema.fields]
        assert got == want, declared.qualified_name
    # Declared table properties reach the table; silver events are not partitioned (see seglib/tables.py).
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{wh.location('silver/events')}`").first()
    assert detail["partitionColumns"] == []
    assert detail["properties"]["delta.dataSkippingStatsColumns"] == "event_ts,event_date,event_type"


def history_rows(spark, env) -> list[tuple]:
    columns = ("subject_id", "plan", "valid_from", "valid_to", "is_current", "is_deleted")
    return sorted(
        (tuple(r) for r in silver(spark, env, "customers_history").select(*columns).collect()),
        key=lambda r: (r[0], r[2]),
    )


def test_second_run_reads_only_new_rows_and_reruns_are_idempotent(spark, first_run):
    env, _ = first_run
    late = T0 + timedelta(hours=1)
    # A late-arriving c1 version between its two stored ones, and a later one that changes only the e-mail.
    write_raw(spark, env, "raw_crm_customers", [crm("c1", late, "premium"), crm("c1", T2, "pro")], CRM, mode="append")
    write_raw(spark, env, "raw_events", [event("e8", T2, "a2", "c4", "login")], EVENTS, mode="append")
    write_raw(
        spark,
        env,
        "raw_orders",
        [("o1", "c1", T2, Decimal("10.00"), "EUR", "refunded", 1, "shoes")],
        ORDERS,
        mode="append",
    )

    second = ingest(spark, env, "r2")
    assert second.methods["raw_events"] == "cdf"
    assert {t: c.read for t, c in second.tables.items()} == {
        "raw_events": 1,
        "raw_crm_customers": 2,
        "raw_orders": 1,
        "raw_consents": 0,
        "raw_texts": 0,
    }
    events = silver(spark, env, "events")
    subjects = {r["event_id"]: r["subject_id"] for r in events.collect()}
    assert subjects[p("e8")] == p("c4")
    assert subjects[p("e7")] == p("c4")  # earlier anonymous event re-keyed by the new link
    assert events.count() == 5
    assert silver(spark, env, "orders").agg(F.sum("net_amount")).first()[0] == Decimal("0.00")
    history = history_rows(spark, env)
    assert history[:3] == [
        (p("c1"), "basic", T0, late, False, False),  # closed by the late version, which closes at the stored T1
        (p("c1"), "premium", late, T1, False, False),
        (p("c1"), "pro", T1, None, True, False),  # T2 changed nothing the history keeps: no new row
    ]

    names = ("events", "orders", "customers", "customers_history", "texts")
    before = {n: silver(spark, env, n).drop("run_id") for n in names}
    before = {n: df.localCheckpoint() for n, df in before.items()}
    third = ingest(spark, env, "r3")
    assert sum(c.read for c in third.tables.values()) == 0
    for name, df in before.items():
        assert_df_equality(silver(spark, env, name).drop("run_id"), df, ignore_row_order=True)

    ingest(spark, env, "r4", full_refresh=True)
    for name, df in before.items():
        assert_df_equality(silver(spark, env, name).drop("run_id"), df, ignore_row_order=True, ignore_nullable=True)


def test_missing_required_raw_column_fails_fast(spark, env):
    from seglib.ingest import MissingColumnError

    schema = ORDERS.replace(", status string", "")
    rows = [("o9", "c1", T0, Decimal("1.00"), "EUR", 1, "x")]
    write_raw(spark, env, "raw_orders", rows, schema, overwrite_schema=True)
    with pytest.raises(MissingColumnError, match=r"raw_orders.*'status'"):
        ingest(spark, env, "r1")


@pytest.fixture
def sparse_env(spark, tmp_path):
    """Events, CRM and consents as in RAW; raw_orders and raw_texts are left to each test."""
    return raw_warehouse(spark, tmp_path / "wh", ("raw_events", "raw_crm_customers", "raw_consents"))


SILVER_COLUMNS = {
    "orders": [
        "order_id", "subject_id", "order_ts", "order_date", "amount", "currency", "status", "items",
        "product_category", "net_amount", "run_id",
    ],
    "texts": ["text_id", "subject_id", "source", "text", "created_at", "run_id"],
}  # fmt: skip


def test_empty_and_missing_optional_inputs_give_empty_silver_tables_a_feature_row_and_are_picked_up(
    spark, sparse_env, caplog
):
    """raw_orders exists but is empty, raw_texts does not exist: both are optional (conf/ingest.yaml)."""
    from seglib.config.features import FeaturesConfig
    from seglib.features import build_feature_set
    from seglib.ingest import MissingInputError

    write_raw(spark, sparse_env, "raw_orders", [], ORDERS)
    strict = sparse_env.model_copy(update={"ingest": sparse_env.ingest.model_copy(update={"optional_inputs": []})})
    with pytest.raises(MissingInputError, match=r"raw_texts at .*raw_texts.*ingest\.optional_inputs"):
        ingest(spark, strict, "r0")

    with caplog.at_level("WARNING", logger="seglib.ingest.run"):
        first = ingest(spark, sparse_env, "r1")  # a first, incremental run: empty batches used to write nothing
    assert (first.methods["raw_orders"], first.tables["raw_orders"].read) == ("full", 0)
    assert (first.methods["raw_texts"], first.tables["raw_texts"].read) == ("missing", 0)
    assert "raw_texts: optional raw input not found" in caplog.text
    assert "raw_texts" not in first.versions
    for name, columns in SILVER_COLUMNS.items():
        assert (silver(spark, sparse_env, name).columns, silver(spark, sparse_env, name).count()) == (columns, 0)

    tables = ("events", "customers_history", "orders", "consents", "texts")
    cfg = FeaturesConfig.model_validate({"psychographics": {"engine": "builtin"}})
    features = build_feature_set(
        {n: silver(spark, sparse_env, n) for n in tables}, cfg, NOW.date(), required_consent="analytics"
    ).features
    cols = ["subject_id", "events_90d", "frequency_365d", "recency_days", "text_count", "sentiment_score"]
    # a2 is the only subject whose latest analytics decision is a grant; its one event e7 is in the window.
    expected = spark.createDataFrame([(p("a2"), 1, 0, None, 0, None)], features.select(cols).schema)
    assert_df_equality(features.select(cols), expected, ignore_nullable=True)

    schema, rows = RAW["raw_texts"]
    write_raw(spark, sparse_env, "raw_texts", rows, schema)
    second = ingest(spark, sparse_env, "r2")
    assert (second.methods["raw_texts"], second.tables["raw_texts"].read) == ("full", 3)
    assert silver(spark, sparse_env, "texts").count() == 2  # t1 and t2 (t3 has no text: quarantined)
