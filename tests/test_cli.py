"""The ``grassroots`` command as a user runs it, on both stores."""

from __future__ import annotations

import os
import stat
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


def test_coverage_of_an_empty_store_says_to_import_first(
    env: dict[str, str], tmp_path: Path
) -> None:
    empty = run("coverage", "--pack", "core", env=env)
    assert empty.returncode == 0, empty.stderr
    assert "the store is empty" in empty.stderr and "import PATH" in empty.stderr
    assert run("import", str(write_ledger(tmp_path / "l", small_city())), env=env).returncode == 0
    full = run("coverage", "--pack", "core", env=env)
    assert full.returncode == 0 and "empty" not in full.stderr, full.stderr


def test_list_rules_ends_with_the_accounting(env: dict[str, str]) -> None:
    result = run("coverage", "--list-rules", env=env)
    assert result.returncode == 0
    last = result.stdout.strip().splitlines()[-5:]
    assert len(last) == 5 and all("machine-checked" in line for line in last)
    assert any("13 of 42" in line for line in last)


def test_the_embedded_stores_earlier_names_still_select_it(tmp_path: Path) -> None:
    """Planners' scripts say memory (the first embedded store) or duckdb: both select
    the local store, on the command line and in GRASSROOTS_STORE."""
    env = dict(os.environ, GRASSROOTS_DATA=str(tmp_path / "store"))
    env.pop("GRASSROOTS_STORE", None)
    folder = str(write_ledger(tmp_path / "l", small_city()))
    assert run("--store", "memory", "import", folder, env=env).returncode == 0
    for named in (["--store", "duckdb"], ["--store", "local"], []):
        result = run("import", folder, *named, env=dict(env, GRASSROOTS_STORE="memory"))
        assert "nothing changed" in result.stdout, (named, result.stderr)
    reset = run("reset", "--yes", env=dict(env, GRASSROOTS_STORE="duckdb"))
    assert reset.stdout.startswith("the local store at "), reset.stderr
    helped = run("import", "--help", env=env)
    assert "local (embedded, default) or neo4j" in " ".join(helped.stdout.split())


def test_a_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = dict(os.environ, GRASSROOTS_DATA=str(tmp_path), GRASSROOTS_STORE="mongo")
    result = run("export", str(tmp_path / "x.jsonl"), env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: bad setting: GRASSROOTS_STORE:")
    assert "Traceback" not in result.stderr


def test_as_of_takes_every_day_form_the_ledger_takes(env: dict[str, str], tmp_path: Path) -> None:
    import json

    run("import", str(write_ledger(tmp_path / "l", small_city())), env=env)
    iso = run("coverage", "--as-of", "2026-06-30", "--format", "json", env=env)
    assert iso.returncode == 0, iso.stderr
    for form in ("2026/6/30", "2026/06/30", "2026年6月30日"):
        other = run("coverage", "--as-of", form, "--format", "json", env=env)
        assert other.returncode == 0, other.stderr
        assert json.loads(other.stdout) == json.loads(iso.stdout)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single ``error: ...`` line a failed command printed, after checking it is one."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    return lines[0]


def bad_places(tmp_path: Path) -> dict[str, str]:
    """Paths a user may type that cannot be written or read, by what is wrong with them."""
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    os.mkfifo(tmp_path / "a-fifo")
    (tmp_path / "table-is-a-folder" / "areas.csv").mkdir(parents=True)
    return {
        "missing": str(tmp_path / "no-such-folder"),
        "folder": str(tmp_path / "a-folder"),
        "file": str(tmp_path / "a-file"),
        "fifo": str(tmp_path / "a-fifo"),
        "tablefolder": str(tmp_path / "table-is-a-folder"),
        # sysfs refuses new files to everyone, root too (a chmod'ed folder would not stop root)
        "denied": "/sys/grassroots-test",
    }


STORE_PATH_CASES = {
    "export into a missing folder": ("export", "{missing}/x.jsonl"),
    "export onto a folder": ("export", "{folder}"),
    "export below a file": ("export", "{file}/x.jsonl"),
    "export onto a fifo": ("export", "{fifo}"),
    "export without permission": ("export", "{denied}.jsonl"),
    "table into a missing folder": ("coverage", "--output", "{missing}/r.txt"),
    "table onto a folder": ("coverage", "--output", "{folder}"),
    "json into a missing folder": ("coverage", "--format", "json", "--output", "{missing}/r.json"),
    "json without permission": ("coverage", "--format", "json", "--output", "{denied}.json"),
    "xlsx onto a folder": ("coverage", "--format", "xlsx", "--output", "{folder}"),
    "xlsx below a file": ("coverage", "--format", "xlsx", "--output", "{file}/r.xlsx"),
    "import a missing folder": ("import", "{missing}"),
    "import a table that is a folder": ("import", "{tablefolder}"),
}


@pytest.mark.parametrize("case", list(STORE_PATH_CASES))
def test_a_bad_path_is_one_line(env: dict[str, str], tmp_path: Path, case: str) -> None:
    places = bad_places(tmp_path)
    args = [arg.format(**places) for arg in STORE_PATH_CASES[case]]
    one_line_error(run(*args, env=env))
    assert stat.S_ISFIFO(os.stat(places["fifo"]).st_mode)  # never replaced by a file
    assert not (tmp_path / "no-such-folder").exists()
    assert [p.name for p in (tmp_path / "a-folder").iterdir()] == []


PLAIN_PATH_CASES = {
    "schema into a missing folder": ("schema", "--output", "{missing}/s.graphql"),
    "schema onto a folder": ("schema", "--output", "{folder}"),
    "schema without permission": ("schema", "--output", "{denied}.graphql"),
    "generate onto a file": ("generate", "--scale", "tiny", "{file}"),
    "generate below a file": ("generate", "--scale", "tiny", "{file}/city"),
    "generate without permission": ("generate", "--scale", "tiny", "{denied}"),
}


@pytest.mark.parametrize("case", list(PLAIN_PATH_CASES))
def test_a_bad_path_of_a_storeless_command_is_one_line(tmp_path: Path, case: str) -> None:
    places = bad_places(tmp_path)
    env = dict(os.environ, GRASSROOTS_DATA=str(tmp_path / "store"))
    args = [arg.format(**places) for arg in PLAIN_PATH_CASES[case]]
    one_line_error(run(*args, env=env))
    assert (tmp_path / "a-file").read_text(encoding="utf-8") == "x"


def test_export_says_it_holds_personal_data_and_can_leave_it_out(
    env: dict[str, str], tmp_path: Path
) -> None:
    import json

    ledger = small_city()
    ledger["people"][1]["birth_date"] = "1985/3/1"
    run("import", str(write_ledger(tmp_path / "l", ledger)), env=env)
    personal = ("phone", "id_number", "birth_date")
    holders = sum(1 for p in ledger["people"] if any(p.get(f) for f in personal))
    assert holders == 2

    full = run("export", str(tmp_path / "full.jsonl"), env=env)
    assert full.returncode == 0, full.stderr
    assert f"{holders} people" in full.stderr and "in full" in full.stderr
    assert "--no-personal" in full.stderr

    part = run("export", "--no-personal", str(tmp_path / "part.jsonl"), env=env)
    assert part.returncode == 0, part.stderr
    assert f"{holders} people" in part.stderr and "not a full backup" in part.stderr

    def lines(name: str) -> list[dict[str, object]]:
        text = (tmp_path / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    kept = lines("full.jsonl")
    assert any(line["properties"].get("phone") == "13812345678" for line in kept)  # type: ignore[union-attr]
    for line in kept:
        if line.get("labels") == ["Person"]:
            for field in personal:
                line["properties"].pop(field, None)  # type: ignore[union-attr]
    assert lines("part.jsonl") == kept
    # not a backup: importing it clears what it left out
    assert run("import", str(tmp_path / "part.jsonl"), env=env).returncode == 0
    run("export", str(tmp_path / "again.jsonl"), env=env)
    assert lines("again.jsonl") == kept


def test_scope_by_a_unique_name_says_which_node_it_matched(
    env: dict[str, str], tmp_path: Path
) -> None:
    import json

    run("import", str(write_ledger(tmp_path / "l", small_city())), env=env)
    args = ("coverage", "--as-of", "2026-06-30", "--format", "json")
    by_id = run(*args, "--scope", "D", env=env)
    by_name = run(*args, "--scope", "中山区", env=env)
    assert by_name.returncode == 0, by_name.stderr
    assert "scope 中山区 = D (大连市/中山区)" in by_name.stderr
    assert json.loads(by_name.stdout)["rules"] == json.loads(by_id.stdout)["rules"]
    assert "scope" not in by_id.stderr  # an id needs no word about what it matched

    by_org = run(*args, "--scope", "东山社区党委", env=env)
    assert by_org.returncode == 0, by_org.stderr
    assert "scope 东山社区党委 = OK (" in by_org.stderr
    by_area = run(*args, "--scope", "K", env=env)
    assert json.loads(by_org.stdout)["rules"] == json.loads(by_area.stdout)["rules"]


def test_an_ambiguous_scope_name_lists_every_candidate(env: dict[str, str], tmp_path: Path) -> None:
    ledger = small_city()
    ledger["areas"].append({"id": "V2", "name": "河口村", "kind": "village", "parent_id": "S"})
    run("import", str(write_ledger(tmp_path / "l", ledger)), env=env)
    line = one_line_error(run("coverage", "--scope", "河口村", env=env))
    assert "V (大连市/中山区/青堆镇/河口村)" in line
    assert "V2 (大连市/中山区/桃源街道/河口村)" in line
    missing = one_line_error(run("coverage", "--scope", "西岗区", env=env))
    assert "西岗区" in missing


def test_demo_keeps_a_store_of_its_own(env: dict[str, str], tmp_path: Path) -> None:
    env["GRASSROOTS_DEMO_DATA"] = str(tmp_path / "demo")
    first = run("demo", "--no-serve", env=env, stdin="")
    assert first.returncode == 0, first.stderr
    assert f"the embedded store at {tmp_path / 'demo'}" in first.stdout
    assert "grassroots import PATH goes to the default store" in first.stdout
    # the configured store (GRASSROOTS_STORE, GRASSROOTS_DATA) got nothing
    assert run("export", str(tmp_path / "configured.jsonl"), env=env).returncode == 0
    assert (tmp_path / "configured.jsonl").read_text(encoding="utf-8") == ""

    again = run("demo", "--no-serve", env=env, stdin="")  # no terminal, no --yes: still fine
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout

    # the demo's store holds the sample city `generate` writes, and nothing else
    plain = dict(env, GRASSROOTS_STORE="local", GRASSROOTS_DATA=str(tmp_path / "reference"))
    assert run("generate", "--scale", "small", str(tmp_path / "city"), env=plain).returncode == 0
    assert run("import", str(tmp_path / "city"), env=plain).returncode == 0
    run("export", str(tmp_path / "reference.jsonl"), env=plain)
    demo_store = dict(plain, GRASSROOTS_DATA=str(tmp_path / "demo"))
    run("export", str(tmp_path / "demo.jsonl"), env=demo_store)
    reference = (tmp_path / "reference.jsonl").read_text(encoding="utf-8")
    assert reference and (tmp_path / "demo.jsonl").read_text(encoding="utf-8") == reference


def test_demo_asks_before_writing_into_a_store_with_other_data(
    env: dict[str, str], tmp_path: Path, store_kind: str
) -> None:
    ledger = small_city()
    run("import", str(write_ledger(tmp_path / "l", ledger)), env=env)
    run("export", str(tmp_path / "before.jsonl"), env=env)
    before = (tmp_path / "before.jsonl").read_text(encoding="utf-8").splitlines()
    if store_kind == "neo4j":
        target = ["--store", "neo4j"]
    else:
        target = ["--store", store_kind, "--data", env["GRASSROOTS_DATA"]]

    line = one_line_error(run("demo", "--no-serve", *target, env=env, stdin=""))
    assert f"{len(ledger['areas'])} Area" in line and f"{len(ledger['people'])} Person" in line
    assert "--yes" in line and "grassroots reset" in line
    run("export", str(tmp_path / "after.jsonl"), env=env)
    assert (tmp_path / "after.jsonl").read_text(encoding="utf-8").splitlines() == before

    forced = run("demo", "--no-serve", "--yes", *target, env=env, stdin="")
    assert forced.returncode == 0, forced.stderr
    run("export", str(tmp_path / "mixed.jsonl"), env=env)
    mixed = (tmp_path / "mixed.jsonl").read_text(encoding="utf-8").splitlines()
    assert set(before) < set(mixed)
