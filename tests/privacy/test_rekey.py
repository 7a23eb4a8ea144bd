from __future__ import annotations

from chispa import assert_df_equality

from seglib.config import SeglibConfig
from seglib.delta_io import delta_table, read_table
from seglib.privacy.keys import parse_key_ring
from seglib.privacy.pseudonymize import pseudonym_py
from seglib.privacy.rekey import KEY_VERSION_PROPERTY, rekey_owned_tables
from seglib.tables import Warehouse


def test_rekey_maps_old_pseudonyms_to_the_active_key(spark, tmp_path):
    ring = parse_key_ring(f"v2:{'22' * 32},v1:{'11' * 32}")
    v1, v2 = ring.get("v1"), ring.active
    cfg = SeglibConfig.model_validate({"warehouse": {"path": str(tmp_path / "wh")}})
    location = Warehouse.of(cfg).location("silver/orders")
    schema = "order_id string, subject_id string, amount double"
    spark.createDataFrame(
        [(pseudonym_py("O1", v1), pseudonym_py("C1", v1), 5.0), (pseudonym_py("O2", v1), "unmapped", 7.0)], schema
    ).write.format("delta").save(location)
    raw_ids = spark.createDataFrame([("O1",), ("O2",), ("C1",)], "raw_id string")

    done = rekey_owned_tables(spark, cfg, "v1", raw_ids=raw_ids, key_ring=ring)

    expected = spark.createDataFrame(
        [(pseudonym_py("O1", v2), pseudonym_py("C1", v2), 5.0), (pseudonym_py("O2", v2), "unmapped", 7.0)], schema
    )
    assert done == {"silver/orders": ["order_id", "subject_id"]}
    assert_df_equality(read_table(spark, location), expected, ignore_row_order=True, ignore_nullable=True)
    detail = delta_table(spark, location).detail().first()
    assert detail.properties[KEY_VERSION_PROPERTY] == "v2"
