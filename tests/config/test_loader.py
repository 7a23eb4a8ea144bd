from datetime import date
from pathlib import Path

import pytest

from seglib.config import ConfigError, load_config, parse_override
from seglib.config.generator import GeneratorConfig
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


@pytest.mark.parametrize(
    "name,home,overridden",
    [
        ("local", "local", {}),
        ("cluster", "cluster", {"warehouse": "/data/seglib/warehouse"}),
        ("databricks", "databricks", {"warehouse": "dbfs:/seglib/warehouse", "experiment": "/Shared/seglib"}),
    ],
)
def test_environment_files_extend_base(name, home, overridden):
    cfg = load_config([REPO / "conf" / f"{name}.yaml"])
    base = load_config([REPO / "conf" / "base.yaml"])
    assert cfg.spark.home == home
    # Only base.yaml (and the stage files it extends in turn) provides these: the models' defaults differ.
    assert cfg.generator.end_date == base.generator.end_date == date(2026, 11, 1) != GeneratorConfig().end_date
    assert cfg.ingest.rules == base.ingest.rules and "raw_events" in cfg.ingest.rules
    assert "playbook" in cfg.rules.families
    # What the environment file sets wins over base.yaml; the rest is base.yaml's.
    got = {"warehouse": cfg.warehouse.path, "experiment": cfg.mlflow.experiment}
    assert got == {"warehouse": base.warehouse.path, "experiment": base.mlflow.experiment, **overridden}
    assert base.warehouse.path == str(Path(".seglib/warehouse").resolve()) and base.mlflow.experiment == "seglib"


def test_extends_merges_the_parent_key_by_key_and_the_child_wins(tmp_path):
    (tmp_path / "parent.yaml").write_text("generator:\n  customers: 123\n  seed: 9\n")
    (tmp_path / "child.yaml").write_text("extends: parent.yaml\ngenerator:\n  seed: 5\n")
    defaults = GeneratorConfig()
    assert (defaults.customers, defaults.seed) != (123, 5)
    cfg = load_config([tmp_path / "child.yaml"])
    assert cfg.generator.customers == 123  # only the parent sets it
    assert cfg.generator.seed == 5  # the child overrides the parent


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


def test_the_default_ships_in_the_package_and_conf_links_to_it():
    from seglib.config import DEFAULT_CONFIG
    from seglib.config.loader import DEFAULTS_DIR

    assert DEFAULT_CONFIG.parent == DEFAULTS_DIR and DEFAULTS_DIR.parent == REPO / "seglib" / "config"
    packaged = sorted(p.name for p in DEFAULTS_DIR.glob("*.yaml"))
    # One copy of each file: conf/ holds links to the packaged files plus the deployment overlays.
    for name in packaged:
        assert (REPO / "conf" / name).resolve() == DEFAULTS_DIR / name
    assert {p.name for p in (REPO / "conf").glob("*.yaml") if not p.is_symlink()} == {"cluster.yaml", "databricks.yaml"}
    cfg = load_config([DEFAULT_CONFIG])
    assert cfg == load_config([REPO / "conf" / "local.yaml"]) == load_config(["seglib:local.yaml"])
    assert cfg.spark.home == "local" and "raw_events" in cfg.ingest.rules and "EUR" in cfg.ingest.currencies
    assert "playbook" in cfg.rules.families


def test_seg_without_config_loads_the_packaged_default(capsys):
    import json

    from seglib.cli import main
    from seglib.config import DEFAULT_CONFIG

    assert main(["config"]) == 0
    assert json.loads(capsys.readouterr().out) == load_config([DEFAULT_CONFIG]).model_dump(mode="json")


def test_an_overlay_outside_the_repo_extends_a_packaged_file(tmp_path):
    overlay = tmp_path / "prod.yaml"
    overlay.write_text("extends: seglib:base.yaml\nspark:\n  home: cluster\n")
    cfg = load_config([overlay])
    assert cfg.spark.home == "cluster" and cfg.ingest.rules == load_config([REPO / "conf" / "base.yaml"]).ingest.rules
    (tmp_path / "typo.yaml").write_text("extends: seglib:bse.yaml\n")
    with pytest.raises(ConfigError, match=r"config file not found: .*defaults/bse\.yaml"):
        load_config([tmp_path / "typo.yaml"])


def test_a_config_without_ingest_rules_is_warned_about(tmp_path, caplog, capsys):
    from seglib.cli import main

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main(["config", "--config", str(empty)]) == 0
    assert any("no ingest validation rules" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    caplog.clear()
    assert main(["config"]) == 0
    assert not any("no ingest validation rules" in r.getMessage() for r in caplog.records)
