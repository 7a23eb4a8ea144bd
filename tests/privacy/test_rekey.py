from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from seglib.cli import main
from seglib.config import SeglibConfig
from seglib.delta_io import KeyVersionError, TableSpec, delta_table, read_table, write_table
from seglib.privacy.keys import parse_key_ring
from seglib.privacy.pseudonymize import pseudonym_py
from seglib.privacy.rekey import KEY_VERSION_PROPERTY, RekeyError, rekey_owned_tables, rotation_keys
from seglib.run_lock import acquire, release
from seglib.tables import Warehouse, pseudonym_sources

from .conftest import KEY_V1, KEY_V2

RING = f"v2:{KEY_V2},v1:{KEY_V1}"


def _recorded(spark, location: str) -> str | None:
    return (delta_table(spark, location).detail().first().properties or {}).get(KEY_VERSION_PROPERTY)


def test_rekey_maps_old_pseudonyms_to_the_active_key(spark, tmp_path, rotated_ring):
    v1, v2 = rotated_ring.get("v1"), rotated_ring.active
    cfg = SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}})
    location = Warehouse.of(cfg).location("silver/orders")
    schema = "order_id string, subject_id string, amount double"
    spark.createDataFrame(
        [(pseudonym_py("O1", v1), pseudonym_py("C1", v1), 5.0), (pseudonym_py("O2", v1), "unmapped", 7.0)], schema
    ).write.format("delta").save(location)
    raw_ids = spark.createDataFrame([("O1",), ("O2",), ("C1",)], "raw_id string")

    report = rekey_owned_tables(spark, cfg, "v1", raw_ids=raw_ids, key_ring=rotated_ring)

    expected = spark.createDataFrame(
        [(pseudonym_py("O1", v2), pseudonym_py("C1", v2), 5.0), (pseudonym_py("O2", v2), "unmapped", 7.0)], schema
    )
    assert [(t.table, t.columns, t.before, t.after, t.rows) for t in report.tables] == [
        ("silver/orders", ("order_id", "subject_id"), None, "v2", 2)
    ]
    assert report.raw_ids == 3
    assert_df_equality(read_table(spark, location), expected, ignore_row_order=True, ignore_nullable=True)
    assert _recorded(spark, location) == "v2"


def test_a_rotation_needs_an_old_version_of_the_ring_that_is_not_active(rotated_ring):
    assert [k.version for k in rotation_keys(rotated_ring, "v1")] == ["v1", "v2"]
    with pytest.raises(RekeyError, match=r"key version 'v0' is not in the key ring \(versions v2, v1, active v2"):
        rotation_keys(rotated_ring, "v0")
    with pytest.raises(RekeyError, match=r"key v2 is the active key"):
        rotation_keys(rotated_ring, "v2")


# ---------------------------------------------------------------- seg rekey


def _args(tmp_path) -> list[str]:
    # The CLI reuses the suite's session and applies its runtime settings: keep the suite's one shuffle partition.
    wh = f"warehouse.path={tmp_path / 'wh'}"
    return ["--set", wh, "--set", "spark.home=local", "--set", "spark.shuffle_partitions=1"]


@pytest.fixture
def v1_warehouse(spark, tmp_path, rotated_ring):
    """raw/raw_orders with raw ids; silver/orders written under v1 (no key version recorded); silver/customers
    already recording v2 (it holds a v1 pseudonym on purpose: a table at the active key must be left alone)."""
    v1 = rotated_ring.get("v1")
    wh = Warehouse.of(SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}}))
    spark.createDataFrame([("O1", "C1"), ("O2", "C2")], "order_id string, customer_id string").write.format(
        "delta"
    ).save(wh.location("raw/raw_orders"))
    orders = [(pseudonym_py(o, v1), pseudonym_py(c, v1), a) for o, c, a in [("O1", "C1", 5.0), ("O2", "C2", 7.0)]]
    spark.createDataFrame(orders, "order_id string, subject_id string, amount double").write.format("delta").save(
        wh.location("silver/orders")
    )
    customers = spark.createDataFrame([(pseudonym_py("C1", v1), "FR")], "subject_id string, country string")
    write_table(customers, TableSpec(wh.location("silver/customers"), properties={KEY_VERSION_PROPERTY: "v2"}))
    return wh


def test_seg_rekey_rewrites_the_pseudonyms_under_the_lock_and_a_second_run_is_a_no_op(
    spark, tmp_path, v1_warehouse, rotated_ring, capsys, monkeypatch
):
    v1, v2 = rotated_ring.get("v1"), rotated_ring.active
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", RING)
    orders, customers = v1_warehouse.location("silver/orders"), v1_warehouse.location("silver/customers")

    assert main(["rekey", "--from-version", "v1", *_args(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert "seg rekey: key v1 -> v2, mapping built from 4 raw identifiers; re-keyed 1 of 2 tables" in out
    assert [line.split() for line in out.splitlines() if line.startswith("silver/")] == [
        ["silver/customers", "-", "left", "at", "v2", "(already", "at", "the", "active", "key", "v2)"],
        ["silver/orders", "2", "unrecorded", "->", "v2", "order_id,", "subject_id"],
    ]
    got = sorted(tuple(r) for r in read_table(spark, orders).collect())
    assert got == sorted([(pseudonym_py("O1", v2), pseudonym_py("C1", v2), 5.0),
                          (pseudonym_py("O2", v2), pseudonym_py("C2", v2), 7.0)])  # fmt: skip
    assert pseudonym_py("C1", v2) != pseudonym_py("C1", v1)
    assert _recorded(spark, orders) == "v2"
    assert read_table(spark, customers).first()["subject_id"] == pseudonym_py("C1", v1)  # left alone
    assert read_table(spark, v1_warehouse.location("ops/run_lock")).count() == 0  # the lock was released

    assert main(["rekey", "--from-version", "v1", *_args(tmp_path)]) == 0
    assert "every owned table already records the active key v2: nothing to re-key" in capsys.readouterr().out
    assert sorted(tuple(r) for r in read_table(spark, orders).collect()) == got


def test_seg_rekey_refuses_while_another_run_holds_the_warehouse_lock(
    spark, tmp_path, v1_warehouse, rotated_ring, capsys, monkeypatch
):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", RING)
    cfg = SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}})
    orders = v1_warehouse.location("silver/orders")
    acquire(spark, cfg, "daily", "run")
    try:
        assert main(["rekey", "--from-version", "v1", *_args(tmp_path)]) == 2
    finally:
        release(spark, cfg, "daily")
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("seg rekey: warehouse is busy: run daily (run on "), err
    assert read_table(spark, orders).first()["subject_id"] in {
        pseudonym_py(c, rotated_ring.get("v1")) for c in ("C1", "C2")
    }  # nothing re-keyed
    assert _recorded(spark, orders) is None


# ---------------------------------------------------------------- tables written by the pipeline record their key

KEY_V3 = "33" * 32
RING_V3 = f"v3:{KEY_V3},{RING}"  # a second rotation: two old keys in the ring
NOW = datetime(2026, 3, 1, 12, 0, 0)
RAW_ORDERS = (
    "order_id string, customer_id string, order_ts timestamp, amount decimal(18,2), currency string, "
    "status string, items int, product_category string"
)


def test_after_a_second_rotation_tables_written_by_the_pipeline_are_re_keyed_and_ingest_waits_for_it(
    spark, tmp_path, capsys, monkeypatch
):
    from seglib.ingest import run_ingest

    ring = parse_key_ring(RING_V3)
    v2, v3 = ring.get("v2"), ring.active
    cfg = SeglibConfig.model_validate(
        {
            "warehouse": {"path": str(tmp_path / "wh")},
            "ingest": {"optional_inputs": ["raw_events", "raw_crm_customers", "raw_consents", "raw_texts"]},
        }
    )
    wh = Warehouse.of(cfg)
    raw = [("O1", "C1", NOW - timedelta(days=3), Decimal("5.00"), "EUR", "completed", 1, "shoes")]
    write_table(spark.createDataFrame(raw, RAW_ORDERS), TableSpec(wh.location("raw/raw_orders")))
    orders, scores = wh.location("silver/orders"), wh.location("models/propensity_scores")

    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", RING)  # after the first rotation: v2 active, v1 kept
    run_ingest(spark, cfg, run_id="r1", now=NOW)
    assert [(r.order_id, r.subject_id) for r in read_table(spark, orders).collect()] == [
        (pseudonym_py("O1", v2), pseudonym_py("C1", v2))
    ]
    # A later stage copies the silver pseudonyms (it never loads the key): its table records silver's version.
    score = spark.createDataFrame(
        [(pseudonym_py("C1", v2), date(2026, 3, 1), "purchase_30d", 0.5)],
        "subject_id string, snapshot_date date, target string, score double",
    )
    write_table(score, wh.spec("models/propensity_scores"), replace_where="snapshot_date = DATE'2026-03-01'")
    assert {_recorded(spark, wh.location(t.qualified_name)) for t in pseudonym_sources()} == {"v2"}
    assert _recorded(spark, scores) == "v2"

    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", RING_V3)  # the second rotation, before the rekey
    committed = delta_table(spark, orders).history(1).first().version
    assert main(["ingest", *_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # MLflow logs its store set-up above seglib's one line
    assert last.startswith("seg ingest: the active pseudonym key is v3 but owned tables are at other keys ("), last
    assert "silver/orders at v2" in last, last
    assert last.endswith("run `seg rekey --from-version v2` first, so new pseudonyms join their history (nothing was "
                         "written)"), last  # fmt: skip
    assert "Traceback" not in err
    assert delta_table(spark, orders).history(1).first().version == committed  # nothing written
    with pytest.raises(KeyVersionError):  # the same refusal in process
        run_ingest(spark, cfg, run_id="r2", now=NOW)

    assert main(["rekey", "--from-version", "v2", *_args(tmp_path)]) == 0
    assert "re-keyed 8 of 8 tables" in capsys.readouterr().out  # the 7 silver tables and propensity_scores
    assert [(r.order_id, r.subject_id) for r in read_table(spark, orders).collect()] == [
        (pseudonym_py("O1", v3), pseudonym_py("C1", v3))
    ]
    assert read_table(spark, scores).first().subject_id == pseudonym_py("C1", v3)
    assert {_recorded(spark, orders), _recorded(spark, scores)} == {"v3"}

    run_ingest(spark, cfg, run_id="r3", now=NOW)  # incremental MERGEs under v3 into tables recording v3
    assert _recorded(spark, orders) == "v3"
    assert read_table(spark, orders).count() == 1
