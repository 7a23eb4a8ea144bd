from pathlib import Path

import pytest

from seglib.config import ConfigError, load_config, parse_override
from seglib.tables import Warehouse

REPO = Path(__file__).resolve().parents[2]


def test_defaults_validate_without_files():
    cfg = load_config()
    assert cfg.spark.home == "auto"
    assert cfg.warehouse.path == str(Path(".seglib/warehouse").resolve())  # relative paths resolved once


def test_locations_are_made_absolute_but_uris_and_catalog_names_kept():
    overrides = ["warehouse.path=s3://bucket/wh", "inputs.raw_events=data/ev", "inputs.raw_orders=sales.orders"]
    cfg = load_config([], overrides)
    assert cfg.warehouse.path == "s3://bucket/wh"
    assert cfg.inputs.raw_events == str(Path("data/ev").resolve())
    assert cfg.inputs.raw_orders == "sales.orders"


@pytest.mark.parametrize("name,home", [("local", "local"), ("cluster", "cluster"), ("databricks", "databricks")])
def test_environment_files_extend_base(name, home):
    cfg = load_config([REPO / "conf" / f"{name}.yaml"])
    assert cfg.spark.home == home
    assert cfg.mlflow.experiment  # inherited from base.yaml or overridden


def test_set_overrides_are_typed_and_win_over_files():
    cfg = load_config(
        [REPO / "conf" / "local.yaml"],
        ["generator.customers=123", "warehouse.path=/tmp/wh", "inputs.raw_events=/data/ev", "spark.conf={a.b: c}"],
    )
    assert cfg.generator.customers == 123
    assert cfg.warehouse.path == "/tmp/wh"
    assert Warehouse.of(cfg).location("raw/raw_events") == "/data/ev"
    assert Warehouse.of(cfg).location("raw/raw_orders") == "/tmp/wh/raw/raw_orders"
    assert cfg.spark.conf == {"a.b": "c"}


def test_unknown_key_is_rejected_with_its_dotted_path():
    with pytest.raises(ConfigError, match=r"unknown key 'generator\.custmers'"):
        load_config([], ["generator.custmers=5"])


def test_unknown_key_in_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("warehouse:\n  pth: /x\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*\n.*unknown key 'warehouse\.pth'"):
        load_config([bad])


def test_wrong_type_is_reported():
    with pytest.raises(ConfigError, match=r"'generator\.customers'"):
        load_config([], ["generator.customers=many"])


def test_cross_field_validation():
    with pytest.raises(ConfigError, match="k_max"):
        load_config([], ["clustering.k_min=5", "clustering.k_max=3"])


def test_extends_cycle_is_an_error(tmp_path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config([tmp_path / "a.yaml"])


def test_parse_override_keeps_plain_words_as_strings():
    assert parse_override("spark.master=local[2]") == {"spark": {"master": "local[2]"}}
    assert parse_override("a.b=on") == {"a": {"b": "on"}}
    with pytest.raises(ConfigError):
        parse_override("no-equals-sign")
