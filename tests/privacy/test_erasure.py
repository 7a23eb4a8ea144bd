from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import current_version, read_table
from seglib.errors import ErasureError
from seglib.privacy.erasure import existing_owned_tables, forget, owned_tables, vacuum_owned_tables
from seglib.privacy.keys import parse_key_ring
from seglib.privacy.pseudonymize import pseudonym_py
from seglib.tables import Warehouse

KEY_V1, KEY_V2 = "11" * 32, "22" * 32
NOW = datetime(2024, 7, 1, 9, 30)
RAW_IDS = ["CUST-ERASE", "ANON-ERASE-DEVICE", "CUST-KEEP", "ANON-KEEP"]


def build_warehouse(spark, root: str):
    """A tiny warehouse: silver/features/ops tables keyed by pseudonyms (some still under key v1) and raw data."""
    ring = parse_key_ring(f"v2:{KEY_V2},v1:{KEY_V1}")
    p = {r: pseudonym_py(r, ring.active) for r in RAW_IDS}
    old = pseudonym_py("CUST-ERASE", ring.get("v1"))
    cfg = SeglibConfig.model_validate({"warehouse": {"path": root}, "privacy": {}})
    ev = "event_id string, subject_id string, anonymous_pseudonym string"
    data = {
        ("silver", "events"): (
            [
                ("e1", p["CUST-ERASE"], p["ANON-ERASE-DEVICE"]),  # stitched
                ("e2", p["ANON-ERASE-DEVICE"], p["ANON-ERASE-DEVICE"]),  # not yet re-keyed
                ("e3", p["CUST-KEEP"], p["ANON-KEEP"]),
                ("e4", p["ANON-KEEP"], p["ANON-KEEP"]),
            ],
            ev,
        ),
        ("silver", "identity_map"): (
            [(p["ANON-ERASE-DEVICE"], p["CUST-ERASE"]), (p["ANON-KEEP"], p["CUST-KEEP"])],
            "anonymous_pseudonym string, subject_id string",
        ),
        ("silver", "customers"): (
            [(p["CUST-ERASE"], "25-34"), (p["CUST-KEEP"], "35-44")],
            "subject_id string, b string",
        ),
        ("features", "subject_features"): ([(old, 1.0), (p["CUST-KEEP"], 2.0)], "subject_id string, x double"),
        ("ops", "quarantine"): (
            [("raw_events", f'{{"customer_id":"{p["CUST-ERASE"]}"}}'), ("raw_events", '{"customer_id":null}')],
            "table_name string, row_json string",
        ),
        ("ops", "run_log"): ([("r0", p["CUST-ERASE"])], "run_id string, subject_id string"),  # not declared: not ours
        ("raw", "raw_events"): ([("CUST-ERASE",)], "customer_id string"),  # raw belongs to the source system
    }
    for (layer, name), (rows, schema) in data.items():
        spark.createDataFrame(rows, schema).write.format("delta").save(f"{cfg.warehouse.path}/{layer}/{name}")
    return cfg, ring, p, old


@pytest.fixture(scope="module")
def pristine(spark, tmp_path_factory):
    """Built once per module; every test erases from its own copy (Delta path tables copy as plain folders)."""
    root = tmp_path_factory.mktemp("erasure") / "wh"
    return root, build_warehouse(spark, str(root))


@pytest.fixture
def warehouse(pristine, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", f"v2:{KEY_V2},v1:{KEY_V1}")
    root, (_, ring, p, old) = pristine
    shutil.copytree(root, tmp_path / "wh")
    cfg = SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}, "privacy": {}})
    return cfg, ring, p, old


@pytest.fixture(scope="module")
def forgotten(spark, pristine, tmp_path_factory):
    """One erasure of CUST-ERASE, run once for the tests that only read its outcome, on a copy of the warehouse given
    as a URI (as on HDFS/S3/ABFS): erasure must find and clean every owned table there."""
    root, (_, ring, p, old) = pristine
    copy = tmp_path_factory.mktemp("forgotten") / "wh"
    shutil.copytree(root, copy)
    cfg = SeglibConfig.model_validate({"warehouse": {"path": f"file://{copy}"}, "privacy": {}})
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SEGLIB_PSEUDONYM_KEY", f"v2:{KEY_V2},v1:{KEY_V1}")
        report = forget(spark, cfg, ["CUST-ERASE"], NOW, "run-42")
    return cfg, ring, p, old, report


def _ids(spark, cfg, layer, name, col="subject_id"):
    location = f"{cfg.warehouse.path}/{layer}/{name}"
    return sorted(r[0] for r in read_table(spark, location).select(col).collect())


def test_owned_tables_come_from_the_registry_not_from_listing(spark, warehouse):
    cfg, *_ = warehouse
    assert "raw/raw_events" not in owned_tables(cfg)  # raw inputs belong to their source systems
    assert "ops/run_log" not in owned_tables(cfg)  # present on disk, but not declared: never touched
    assert list(existing_owned_tables(spark, cfg, "forget", erasable_only=True)) == [
        "silver/events",
        "silver/identity_map",
        "silver/customers",
        "features/subject_features",
        "ops/quarantine",
    ]


def test_forget_on_a_file_uri_warehouse_erases_everywhere(spark, forgotten):
    """The warehouse given as a URI (as on HDFS/S3/ABFS): erasure must find and clean every owned table."""
    cfg, _, p, _, report = forgotten
    assert cfg.warehouse.path.startswith("file://")
    assert report.total_rows_deleted == 6
    assert _ids(spark, cfg, "silver", "customers") == [p["CUST-KEEP"]]
    assert _ids(spark, cfg, "ops", "run_log") == [p["CUST-ERASE"]]  # undeclared table: untouched


def test_forget_fails_loudly_when_the_warehouse_holds_no_table(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", KEY_V1)
    cfg = SeglibConfig.model_validate({"warehouse": {"path": f"file://{tmp_path}/nothing-here"}})
    with pytest.raises(ErasureError, match=r"no seglib table exists under warehouse\.path"):
        forget(spark, cfg, ["CUST-ERASE"], NOW, "run-empty")


def test_forget_fails_loudly_when_a_table_cannot_be_reached(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", KEY_V1)
    cfg = SeglibConfig.model_validate({"warehouse": {"path": "nosuchscheme://bucket/wh"}})
    with pytest.raises(ErasureError, match="cannot reach owned table silver/events"):
        forget(spark, cfg, ["CUST-ERASE"], NOW, "run-unreachable")


def test_forget_removes_subject_everywhere_and_logs_no_identifier(spark, forgotten):
    cfg, ring, p, old, report = forgotten

    assert _ids(spark, cfg, "silver", "events", "event_id") == ["e3", "e4"]
    assert _ids(spark, cfg, "silver", "identity_map") == [p["CUST-KEEP"]]
    assert _ids(spark, cfg, "silver", "customers") == [p["CUST-KEEP"]]
    assert _ids(spark, cfg, "features", "subject_features") == [p["CUST-KEEP"]]  # the v1 pseudonym is found too
    assert _ids(spark, cfg, "ops", "quarantine", "row_json") == ['{"customer_id":null}']
    assert _ids(spark, cfg, "raw", "raw_events", "customer_id") == ["CUST-ERASE"]
    assert report.rows_deleted == {
        "features/subject_features": 1,
        "ops/quarantine": 1,
        "silver/customers": 1,
        "silver/events": 2,
        "silver/identity_map": 1,
    }
    assert (report.subjects_requested, report.linked_identities, report.key_versions) == (1, 1, ("v2", "v1"))

    log = read_table(spark, Warehouse.of(cfg).location("ops/erasure_log"))
    rows = log.select(F.to_json(F.struct("*")).alias("j")).collect()
    assert len(rows) == 1
    blob = rows[0].j
    forbidden = [*RAW_IDS, *p.values(), old, *(pseudonym_py(r, ring.get("v1")) for r in RAW_IDS)]
    assert not [x for x in forbidden if x in blob]
    first = log.first()
    assert (first.run_id, first.requested_at, first.total_rows_deleted) == ("run-42", NOW, 6)
    assert sorted(first.tables_touched) == sorted(report.tables_touched)


def test_forget_by_anonymous_id_dataframe_keeps_the_customer(spark, warehouse):
    cfg, _, p, _ = warehouse
    request = spark.createDataFrame([("ANON-KEEP",), ("never-seen",)], "subject_id string")
    report = forget(spark, cfg, request, NOW, "run-43")
    assert _ids(spark, cfg, "silver", "events", "event_id") == ["e1", "e2"]  # e3 carried the device: gone
    assert _ids(spark, cfg, "silver", "customers") == sorted([p["CUST-ERASE"], p["CUST-KEEP"]])
    assert report.subjects_requested == 2 and report.linked_identities == 0
    # Every table is logged; one without the subject's rows gets no DELETE commit.
    assert report.rows_deleted["silver/customers"] == 0 and len(report.rows_deleted) == 5
    assert current_version(spark, Warehouse.of(cfg).location("silver/customers")) == 0


@pytest.fixture
def small_file_listing(spark):
    """Vacuum lists files with 10000 tasks by default: far too many for a 2-core test run."""
    key = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
    previous = spark.conf.get(key, None)
    spark.conf.set(key, "2")
    yield
    spark.conf.unset(key) if previous is None else spark.conf.set(key, previous)


def test_vacuum_drops_erased_rows_from_old_versions(spark, pristine, tmp_path, monkeypatch, small_file_listing):
    # A warehouse holding silver/events only (then ops/erasure_log): each table vacuumed costs several Spark jobs.
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", f"v2:{KEY_V2},v1:{KEY_V1}")
    root, _ = pristine
    shutil.copytree(root / "silver" / "events", tmp_path / "wh" / "silver" / "events")
    cfg = SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}, "privacy": {}})
    assert forget(spark, cfg, ["CUST-ERASE"], NOW, "run-44").rows_deleted == {"silver/events": 1}  # no identity map
    events = Warehouse.of(cfg).location("silver/events")
    # Time travel still shows the erased rows (collect: a count() would be answered from Delta stats alone).
    assert len(read_table(spark, events, version=0).select("event_id").collect()) == 4
    cfg.privacy.vacuum_retention_hours = 0
    with pytest.raises(Exception, match=r"(?i)retention"):  # Delta's safety check stays on unless allowed
        vacuum_owned_tables(spark, cfg)
    cfg.privacy.vacuum_allow_short_retention = True
    result = vacuum_owned_tables(spark, cfg)
    assert set(result) == set(existing_owned_tables(spark, cfg, "vacuum")) == {"silver/events", "ops/erasure_log"}
    assert spark.conf.get("spark.databricks.delta.retentionDurationCheck.enabled", None) is None  # not leaked
    with pytest.raises(Exception, match=r"(?i)file|not exist|found"):
        read_table(spark, events, version=0).select("event_id").collect()
