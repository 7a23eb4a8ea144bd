"""Every user error of ``seg`` is one line on stderr and exit code 2, never a traceback (README "Commands")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seglib.cli import main

REPO = Path(__file__).resolve().parents[1]


def _wh(tmp_path: Path) -> list[str]:
    # The CLI reuses the suite's session and applies its runtime settings: keep the suite's one shuffle partition.
    wh = f"warehouse.path={tmp_path / 'wh'}"
    return ["--set", wh, "--set", "spark.home=local", "--set", "spark.shuffle_partitions=1"]


def _write(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def _delta(tmp_path: Path, name: str, ddl: str, row: tuple) -> Path:
    """A one-row Delta table at ``<warehouse>/<name>`` (the CLI then finds the table, but not what it asks for)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    spark.createDataFrame([row], ddl).write.format("delta").save(str(tmp_path / "wh" / name))
    return tmp_path


# (case, argv from tmp_path, expected phrase, needs a SparkSession)
CASES = [
    ("missing config file", lambda t: ["config", "--config", str(t / "nope.yaml")], "config file not found: ", False),
    ("config path is a folder", lambda t: ["config", "--config", str(t)], "is a directory", False),
    (
        "config file not text",
        lambda t: ["config", "--config", _write(t, "bin.yaml", b"\xff\xfe\x00")],
        "is not UTF-8 text",
        False,
    ),
    (
        "config file not YAML",
        lambda t: ["config", "--config", _write(t, "bad.yaml", b"spark: [local\n  home: x\n")],
        "is not valid YAML",
        False,
    ),
    (
        "invalid config value",
        lambda t: ["run", "--set", "generator.customers=many"],
        "'generator.customers': Input should be a valid integer",
        False,
    ),
    ("unknown config key", lambda t: ["ingest", "--set", "warehouse.pth=/x"], "unknown key 'warehouse.pth'", False),
    (
        "forget: requests table does not exist",
        lambda t: ["forget", "--requests-table", str(t / "no_such_table"), *_wh(t)],
        "no_such_table: no Delta table there",
        True,
    ),
    (
        "forget: requests table name not in the catalog",
        lambda t: ["forget", "--requests-table", "no_such_db.requests", *_wh(t)],
        "--requests-table no_such_db.requests: no Delta table there",
        True,
    ),
    (
        "forget: a warehouse.path holding no seglib table (checked before the lock writes one)",
        lambda t: ["forget", "--subject", "C1", *_wh(t)],
        "no seglib table exists under warehouse.path=",
        True,
    ),
    (
        "vacuum: a warehouse.path holding no seglib table",
        lambda t: ["vacuum", *_wh(t)],
        "no seglib table exists under warehouse.path=",
        True,
    ),
    (
        "show: --as-of neither a version nor a timestamp",
        lambda t: ["show", "--as-of", "yesterday", *_wh(t)],
        "argument --as-of: expected a Delta version (e.g. 3) or a timestamp",
        False,
    ),
    (
        "run: --as-of not a date",
        lambda t: ["run", "--as-of", "2026-13-01", *_wh(t)],
        "argument --as-of: expected a date YYYY-MM-DD, got '2026-13-01'",
        False,
    ),
    (
        "vacuum: retention under Delta's safety check",
        lambda t: ["vacuum", "--set", "privacy.vacuum_retention_hours=24", *_wh(t)],
        "privacy.vacuum_retention_hours=24 is below Delta's 168-hour retention safety check",
        False,
    ),
    (
        "missing JVM jars",
        lambda t: ["features", *_wh(t)],
        "Delta Lake jars not found in ",
        False,
    ),
    (
        "cluster: no features for the date",
        lambda t: ["cluster", "--as-of", "2026-11-01", *_wh(t)],
        "no feature table at ",
        True,
    ),
    (
        "cluster: a feature table without the date",
        lambda t: [
            "cluster", "--as-of", "2026-11-01",
            *_wh(_delta(t, "features/subject_features", "subject_id string, snapshot_date date",
                        ("s1", __import__("datetime").date(2026, 10, 25)))),
        ],
        "no features for snapshot 2026-11-01",
        True,
    ),
    (
        "show: a Delta version that does not exist",
        lambda t: ["show", "--as-of", "999",
                   *_wh(_delta(t, "segments/segment_membership", "subject_id string, segment_id string", ("s1", "a")))],
        "--as-of 999: ",
        True,
    ),
    (
        "rekey: --from-version not in the key ring",
        lambda t: ["rekey", "--from-version", "v0", *_wh(t)],
        "key version 'v0' is not in the key ring (versions v1, active v1, env:SEGLIB_PSEUDONYM_KEY)",
        False,
    ),
    (
        "rekey: --from-version is the active key",
        lambda t: ["rekey", "--from-version", "v1", *_wh(t)],
        "key v1 is the active key (first in the ring v1): put the new key first",
        False,
    ),
    (
        "rekey: without --from-version",
        lambda t: ["rekey", *_wh(t)],
        "the following arguments are required: --from-version",
        False,
    ),
    (
        "rekey: no table with pseudonym columns",
        lambda t: ["rekey", "--from-version", "v1",
                   "--set", "privacy.key_env=SEGLIB_TEST_UNSET_KEY",  # a rotated ring from a key file
                   "--set", "privacy.key_file=" + _write(t, "ring.key", b"v2:" + b"22" * 32 + b",v1:" + b"11" * 32),
                   *_wh(t)],
        "no table with pseudonym columns exists under warehouse.path=",
        True,
    ),
    (
        "rekey: no raw identifiers to map",
        lambda t: ["rekey", "--from-version", "v1",
                   "--set", "privacy.key_env=SEGLIB_TEST_UNSET_KEY",  # a rotated ring from a key file
                   "--set", "privacy.key_file=" + _write(t, "ring.key", b"v2:" + b"22" * 32 + b",v1:" + b"11" * 32),
                   *_wh(_delta(t, "silver/orders", "order_id string, subject_id string", ("o1", "s1")))],
        "the raw input tables hold no identifier to map old pseudonyms to new ones",
        True,
    ),
    (
        "rekey: a table without a recorded key version, several old keys in the ring",
        lambda t: ["rekey", "--from-version", "v2",
                   "--set", "privacy.key_env=SEGLIB_TEST_UNSET_KEY",  # a ring v3, v2, v1 from a key file
                   "--set", "privacy.key_file="
                   + _write(t, "ring.key", b"v3:" + b"33" * 32 + b",v2:" + b"22" * 32 + b",v1:" + b"11" * 32),
                   *_wh(_delta(t, "silver/orders", "order_id string, subject_id string", ("o1", "s1")))],
        "no key version recorded on silver/orders and the ring holds several old keys (v2, v1)",
        True,
    ),
]  # fmt: skip


@pytest.mark.parametrize("argv,phrase,needs_spark", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_user_error_is_one_line_and_exit_2(argv, phrase, needs_spark, request, tmp_path, capsys, monkeypatch):
    if needs_spark:
        request.getfixturevalue("spark")
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", "11" * 32)
    if phrase.startswith("Delta Lake jars"):
        monkeypatch.setenv("SEGLIB_JARS_DIR", str(tmp_path / "no_jars"))
    args = argv(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # MLflow may log its store set-up to stderr first; seglib's own report is exactly one line, the last.
    ours = [line for line in err.splitlines() if line.startswith("seg ")]
    assert len(ours) == 1 and ours[0] == err.strip().splitlines()[-1], err
    assert ours[0].startswith(f"seg {args[0]}: ") and phrase in ours[0], ours[0]
    assert not ours[0].startswith(f"seg {args[0]}: seg {args[0]}: "), ours[0]  # the command is named once


def test_the_jars_hint_names_a_make_target_that_exists(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGLIB_JARS_DIR", str(tmp_path))
    assert main(["show", *_wh(tmp_path)]) == 2
    targets = re.findall(r"`make ([\w-]+)`", capsys.readouterr().err)
    makefile = (REPO / "Makefile").read_text()
    assert targets and all(re.search(rf"^{t}:", makefile, re.MULTILINE) for t in targets)


def test_an_mlflow_failure_is_not_read_as_no_champion():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    from seglib.errors import SeglibError
    from seglib.tracking import _version_by_alias

    class Registry:
        def __init__(self, code: str, message: str):
            self.code, self.message = code, message

        def get_model_version_by_alias(self, name, alias):
            raise MlflowException(self.message, error_code=ErrorCode.Value(self.code))

    missing_model = Registry("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=m not found")
    missing_alias = Registry("INVALID_PARAMETER_VALUE", "Registered model alias champion not found.")
    assert _version_by_alias(missing_model, "m", "champion") is None
    assert _version_by_alias(missing_alias, "m", "champion") is None
    assert _version_by_alias(Registry("NOT_FOUND", "Model m does not exist"), "m", "champion") is None  # Unity Catalog
    unreachable = Registry("INTERNAL_ERROR", "API request to http://mlflow:5000 failed: connection refused")
    with pytest.raises(SeglibError, match=r"MLflow registry: cannot read m@champion \(INTERNAL_ERROR\)"):
        _version_by_alias(unreachable, "m", "champion")
