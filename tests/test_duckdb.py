"""What only the DuckDB store has: its file, its types, its lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grassroots.errors import StoreBusy, StoreError
from grassroots.graph.duck import NODE_LAYOUTS, DuckStore
from grassroots.graph.store import Changes
from grassroots.importers import import_path
from grassroots.schema import Label, Link, Node, RelType
from tests.conftest import snapshot
from tests.ledgers import small_city, write_ledger


def test_columns_are_typed_from_the_schema() -> None:
    area = NODE_LAYOUTS[Label.AREA].types
    assert area["kind"] == "VARCHAR" and area["households"] == "BIGINT"
    assert area["service_centre_m2"] == "DOUBLE" and area["central"] == "BOOLEAN"
    assert NODE_LAYOUTS[Label.PERSON].types["birth_date"] == "DATE"
    assert "parent_id" not in area  # a reference is a column of its own, not a property


def test_a_reopened_store_holds_what_was_written(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "s")
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    before = snapshot(store, tmp_path)
    store.close()
    again = DuckStore(tmp_path / "s")
    assert snapshot(again, tmp_path) == before
    again.close()


def test_values_that_fit_no_column_read_back_as_written(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "s")
    odd = {"id": "A", "name": "x", "kind": "city", "households": 2.5, "since": "2024-02-30"}
    odd |= {"列": ["a", 1], "central": None}
    store.write(Changes(nodes=[Node(Label.AREA, odd)], new={"A"}))
    assert store.nodes(["A"])["A"].props == odd
    store.close()


def test_a_failed_write_writes_nothing(tmp_path: Path) -> None:
    store = DuckStore(tmp_path / "s")
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    before = snapshot(store, tmp_path)
    clash = Changes(
        nodes=[Node(Label.AREA, {"id": "NEW", "name": "n", "kind": "grid"}, {RelType.WITHIN: "K"})],
        links=[Link(RelType.CONTACTS, "P1", "H2", "P1|H2|", {})],
        new={"NEW", "C"},  # "C" is stored: creating it again breaks the primary key
    )
    clash.nodes.append(Node(Label.AREA, {"id": "C", "name": "again", "kind": "city"}))
    with pytest.raises(StoreError, match="nothing was written"):
        store.write(clash)
    assert snapshot(store, tmp_path) == before
    store.close()


def test_a_store_held_by_another_process_is_one_clear_error(tmp_path: Path) -> None:
    DuckStore(tmp_path / "s").close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; db = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " time.sleep(60)",
            str(tmp_path / "s" / "grassroots.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        said = f"another process \\(PID {holder.pid}\\) holds this store; wait for it to finish"
        with pytest.raises(StoreBusy, match=said):
            DuckStore(tmp_path / "s", lock_seconds=0.2)
    finally:
        holder.kill()
        holder.wait()


def test_the_sql_shown_in_the_compilers_docstring_is_what_it_compiles() -> None:
    import textwrap
    from datetime import date

    from grassroots.queries.coverage import sql
    from grassroots.queries.coverage.rules import select

    (rule,) = [r for r in select(["core"], None) if r.id == "grid_has_branch"]
    compiled, params = sql.compile_rule(rule, date(2026, 6, 30), None)
    assert sql.__doc__ is not None
    shown = textwrap.dedent(sql.__doc__.split("``grid_has_branch`` reads::\n", 1)[1])
    assert shown.strip() == compiled.strip()
    assert params == {"p0": ["grid"], "p1": ["branch", "general_branch"]}


def test_opening_the_store_loads_no_code_it_does_not_need(tmp_path: Path) -> None:
    """Opening is most of a short command's time, and loading code most of opening: a
    store that no serve holds needs no HTTP client, and settings with the default packs
    need not load the rules (the default is a shipped pack), and the CLI on the embedded
    store needs no Neo4j driver."""
    from grassroots.queries.coverage.rules import pack_names
    from grassroots.settings import Settings

    assert set(Settings().packs) <= set(pack_names())
    unneeded = ("httpx", "grassroots.queries.coverage.rules", "neo4j", "grassroots.graph.neo4j")
    probe = (
        "import sys\n"
        "import grassroots.cli\n"
        "from grassroots.graph import open_store\n"
        "from grassroots.settings import Settings\n"
        f"store = open_store(Settings(data={str(tmp_path / 'store')!r}))\n"
        "store.counts()\n"
        f"print(sorted(m for m in {unneeded!r} if m in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"
