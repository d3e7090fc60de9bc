"""The ``grassroots`` command as a user runs it, on both stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ledgers import small_city, write_ledger

GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))


def run(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRASSROOTS, *args], env=env, capture_output=True, text=True, input=stdin, timeout=300
    )


def test_import_prints_what_it_did_and_is_idempotent(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_ledger(tmp_path / "l", small_city())
    first = run("import", str(folder), env=env)
    assert first.returncode == 0, first.stderr
    assert "areas" in first.stdout and "10 created" in first.stdout
    again = run("import", str(folder), env=env)
    assert again.returncode == 0
    assert "nothing changed" in again.stdout
    assert "10 unchanged" in again.stdout


def test_a_broken_ledger_exits_1_with_every_problem_and_no_traceback(
    env: dict[str, str], tmp_path: Path
) -> None:
    ledger = small_city()
    ledger["areas"][3]["kind"] = "小区"
    ledger["dispatches"][0]["role"] = "boss"
    result = run("import", str(write_ledger(tmp_path / "bad", ledger)), env=env)
    assert result.returncode == 1
    assert "areas row 5 kind: '小区' is not one of" in result.stderr
    assert "dispatches row 2 role: 'boss' is not one of" in result.stderr
    assert "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    export = run("export", str(tmp_path / "d.jsonl"), env=env)
    assert export.returncode == 0
    assert (tmp_path / "d.jsonl").read_text(encoding="utf-8") == ""


def test_dry_run_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    result = run("import", "--dry-run", str(write_ledger(tmp_path / "l", small_city())), env=env)
    assert result.returncode == 0
    assert "dry run" in result.stdout
    run("export", str(tmp_path / "d.jsonl"), env=env)
    assert (tmp_path / "d.jsonl").read_text(encoding="utf-8") == ""


def test_export_reset_import_restores_the_graph(env: dict[str, str], tmp_path: Path) -> None:
    run("import", str(write_ledger(tmp_path / "l", small_city())), env=env)
    assert run("export", str(tmp_path / "one.jsonl"), env=env).returncode == 0
    refused = run("reset", env=env, stdin="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert run("reset", "--yes", env=env).returncode == 0
    assert run("import", str(tmp_path / "one.jsonl"), env=env).returncode == 0
    run("export", str(tmp_path / "two.jsonl"), env=env)
    one = (tmp_path / "one.jsonl").read_text(encoding="utf-8")
    assert one and one == (tmp_path / "two.jsonl").read_text(encoding="utf-8")


def test_store_option_before_or_after_the_command(env: dict[str, str], tmp_path: Path) -> None:
    kind = env.pop("GRASSROOTS_STORE")
    folder = str(write_ledger(tmp_path / "l", small_city()))
    assert run("--store", kind, "import", folder, env=env).returncode == 0
    result = run("import", folder, "--store", kind, env=env)
    assert "nothing changed" in result.stdout


@pytest.mark.parametrize("store_kind", ["neo4j"])
def test_unreachable_neo4j_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    env["NEO4J_URI"] = "bolt://127.0.0.1:9"
    result = run("import", str(write_ledger(tmp_path / "l", small_city())), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Neo4j at bolt://127.0.0.1:9")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("store_kind", ["neo4j"])
def test_refused_credentials_are_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    env["NEO4J_PASSWORD"] = "not-the-password"
    result = run("export", str(tmp_path / "x.jsonl"), env=env)
    assert result.returncode == 1
    assert "refused the credentials of user 'neo4j'" in result.stderr
    assert "not-the-password" not in result.stderr
    assert "Traceback" not in result.stderr


def test_generate_writes_a_bundle_that_imports(env: dict[str, str], tmp_path: Path) -> None:
    result = run("generate", "--scale", "tiny", str(tmp_path / "city"), env=env)
    assert result.returncode == 0, result.stderr
    imported = run("import", str(tmp_path / "city"), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "households" in imported.stdout


def test_bad_store_name_is_a_usage_error(tmp_path: Path) -> None:
    env = dict(os.environ, GRASSROOTS_DATA=str(tmp_path))
    result = run("--store", "mongo", "export", "x.jsonl", env=env)
    assert result.returncode == 2
    assert "mongo" in result.stderr


def test_coverage_json_xlsx_and_breakdown(env: dict[str, str], tmp_path: Path) -> None:
    import json

    from openpyxl import load_workbook

    run("import", str(write_ledger(tmp_path / "l", small_city())), env=env)
    result = run("coverage", "--pack", "core", "--as-of", "2026-06-30", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["as_of"] == "2026-06-30"
    grid = next(r for r in report["rules"] if r["id"] == "grid_has_branch")
    assert [g["id"] for g in grid["gaps"]] == ["G2"]

    book = tmp_path / "report.xlsx"
    made = run(
        "coverage",
        "--rule",
        "grid_has_branch",
        "--rule",
        "household_has_contact",
        "--format",
        "xlsx",
        "--output",
        str(book),
        "--by",
        "district",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    sheets = load_workbook(book).sheetnames
    assert sheets[0] == "汇总 summary"
    assert {"grid_has_branch", "household_has_contact", "by area"} <= set(sheets)
    rows = list(load_workbook(book)["grid_has_branch"].iter_rows(values_only=True))
    assert rows[3][:3] == ("G2", "东山第2网格", "中山区")

    table = run("coverage", "--scope", "K", "--as-of", "2026-06-30", env=env)
    assert table.returncode == 0 and "grid_has_branch" in table.stdout


def test_coverage_errors_are_clear(env: dict[str, str]) -> None:
    bad_day = run("coverage", "--as-of", "30/06/2026", env=env)
    assert bad_day.returncode == 1 and "YYYY-MM-DD" in bad_day.stderr
    bad_rule = run("coverage", "--rule", "no_such_rule", env=env)
    assert bad_rule.returncode == 1 and "--list-rules" in bad_rule.stderr


def test_list_rules_ends_with_the_accounting(env: dict[str, str]) -> None:
    result = run("coverage", "--list-rules", env=env)
    assert result.returncode == 0
    last = result.stdout.strip().splitlines()[-5:]
    assert len(last) == 5 and all("machine-checked" in line for line in last)
    assert any("13 of 42" in line for line in last)


def test_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = dict(os.environ, GRASSROOTS_DATA=str(tmp_path), GRASSROOTS_STORE="mongo")
    result = run("export", str(tmp_path / "x.jsonl"), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: bad setting: GRASSROOTS_STORE:")
    assert "Traceback" not in result.stderr
