"""The docs stay true: the README's commands exist and its example output is real."""

from __future__ import annotations

import re
from pathlib import Path

from grassroots.graph.duck import DuckStore
from grassroots.importers import import_path
from grassroots.schema import TABLES

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_two_commands_are_make_targets_and_ci_runs_the_second() -> None:
    commands = re.findall(r"^make (\w+)", README, flags=re.M)
    assert commands[:2] == ["demo", "test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in commands:
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
    assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readme_example_output_is_what_import_prints(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grassroots.cli import app

    result = CliRunner().invoke(
        app,
        ["import", str(REPO / "examples" / "ledger-zh")],
        env={"GRASSROOTS_DATA": str(tmp_path), "GRASSROOTS_STORE": "local"},
    )
    assert result.exit_code == 0, result.output
    shown = [line for line in README.splitlines() if re.match(r"^  \w+ +\d+ created", line)]
    assert shown
    for line in shown:
        assert line in result.output.splitlines()


def test_the_example_ledger_covers_every_table(tmp_path: Path) -> None:
    store = DuckStore(tmp_path)
    outcome = import_path(store, REPO / "examples" / "ledger-zh")
    store.close()
    assert set(outcome.tallies) == {t.name for t in TABLES}


def test_the_ledger_doc_names_every_relationship() -> None:
    from grassroots.schema import RelType

    doc = (REPO / "docs" / "ledger.md").read_text(encoding="utf-8")
    for rel in RelType:
        assert f":{rel.value}]" in doc, rel


def test_the_readme_coverage_example_is_what_coverage_prints(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grassroots.cli import app

    env = {"GRASSROOTS_DATA": str(tmp_path), "GRASSROOTS_STORE": "local"}
    CliRunner().invoke(app, ["import", str(REPO / "examples" / "ledger-zh")], env=env)
    result = CliRunner().invoke(
        app, ["coverage", "--pack", "core", "--as-of", "2026-06-30", "--format", "json"], env=env
    )
    assert result.exit_code == 0, result.output
    printed = result.output.splitlines()
    block = README.split("--format json\n", 1)[1].split("\n$ ", 1)[0]
    shown = [line for line in block.splitlines() if line.strip() not in ("...", "")]
    assert shown
    position = 0
    for line in shown:  # the README's lines appear in the output, in order
        position = printed.index(line, position) + 1
