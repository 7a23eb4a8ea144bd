"""User errors end as one line on stderr and exit code 2; --verbose adds the traceback."""

from __future__ import annotations

from seglib.cli import main


def _args(tmp_path) -> list[str]:
    # The CLI reuses the suite's session and applies its runtime settings: keep the suite's one shuffle partition.
    return [
        "--set",
        f"warehouse.path={tmp_path / 'wh'}",
        "--set",
        "spark.home=local",
        "--set",
        "spark.shuffle_partitions=1",
    ]


def test_ingest_on_an_empty_warehouse_is_one_line(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SEGLIB_PSEUDONYM_KEY", "11" * 32)
    assert main(["ingest", *_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    # Only the last line is seglib's (MLflow logs its store set-up above it); no traceback anywhere.
    last = err.splitlines()[-1]
    assert last.startswith("seg ingest: raw input table(s) not found: ") and "raw_events at " in last
    assert "Traceback" not in err


def test_a_missing_key_is_one_line_and_verbose_shows_the_traceback(spark, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SEGLIB_PSEUDONYM_KEY", raising=False)
    assert main(["forget", "--subject", "c1", *_args(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("seg forget: no pseudonymization key found") and "Traceback" not in err
    assert main(["forget", "--subject", "c1", "--verbose", *_args(tmp_path)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_unknown_config_key_names_its_path(capsys):
    assert main(["config", "--set", "generator.custmers=5"]) == 2
    assert "generator.custmers" in capsys.readouterr().err


def test_a_skipped_family_exits_3_and_one_the_data_cannot_have_exits_0(tmp_path, capsys):
    from datetime import date

    from seglib.cli import EXIT_PARTIAL, _report
    from seglib.config import load_config
    from seglib.run_types import FamilyCheck, RunContext, RunResult

    cfg = load_config((), [f"warehouse.path={tmp_path / 'wh'}"])
    not_applicable = FamilyCheck("propensity_upgrade", "not_applicable", "upgrade: no plan history")
    result = RunResult(RunContext.create(date(2026, 11, 1), "r1"), skipped=[not_applicable])
    assert _report(cfg, "run", result) == 0
    out, err = capsys.readouterr()
    assert "propensity_upgrade: NOT APPLICABLE: upgrade: no plan history" in out
    assert err.strip() == "seg run: propensity_upgrade not applicable: upgrade: no plan history"
    result.skipped.append(FamilyCheck("clv_bracket", "skipped", "clv: not scored: seglib_clv has no champion"))
    assert _report(cfg, "run", result) == EXIT_PARTIAL == 3
    assert "seg run: clv_bracket skipped: clv: not scored" in capsys.readouterr().err
