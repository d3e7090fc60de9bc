"""An embedded store of an earlier version (networkx + SQLite) moves into the local store
the first time it is opened, once, keeping the old file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from grassroots.errors import StoreUnavailable
from grassroots.graph import open_store
from grassroots.graph.duck import DuckStore
from grassroots.schema import Label, Link, Node, RelType
from grassroots.settings import Settings, StoreKind

GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))

# The old format, as the networkx store wrote it (grassroots/graph/memory.py until the
# DuckDB store replaced it): written out here, so that the test does not depend on code
# that no longer exists.
OLD_SCHEMA = """
CREATE TABLE node (id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE rel (
    type TEXT NOT NULL, key TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    props TEXT NOT NULL, PRIMARY KEY (type, key));
CREATE INDEX rel_start ON rel (start, type);
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta VALUES ('generation', 3);
"""

NODES: list[tuple[str, str, dict[str, Any]]] = [
    ("C", "Area", {"id": "C", "name": "大连市", "kind": "city"}),
    ("S", "Area", {"id": "S", "name": "桃源街道", "kind": "subdistrict", "population": 42000}),
    ("G1", "Area", {"id": "G1", "name": "东山第1网格", "kind": "grid", "备注": "新建"}),
    (
        "OS",
        "PartyOrg",
        {"id": "OS", "name": "桃源街道党工委", "form": "working_committee", "member_count": 7},
    ),
    (
        "P1",
        "Person",
        {"id": "P1", "name": "王伟", "birth_date": "1975-03-08", "party_member": True},
    ),
    ("P2", "Person", {"id": "P2", "name": "李芳", "party_member": False}),
]
REFERENCES = [("WITHIN", "S", "C"), ("WITHIN", "G1", "S"), ("BUILT_ON", "OS", "S")]
LINKS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    (
        "HOLDS_POST",
        "P1|OS|secretary|2021-07-01",
        "P1",
        "OS",
        {"post": "secretary", "concurrent": False, "since": "2021-07-01"},
    ),
    (
        "HOLDS_POST",
        "P2|OS|committee_member|",
        "P2",
        "OS",
        {"post": "committee_member", "concurrent": True, "until": "2025-12-31"},
    ),
]


def old_store(folder: Path) -> Path:
    """A data folder as the earlier version left it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grassroots.sqlite"
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    dumps = json.dumps  # the old store wrote compact JSON with the keys sorted
    db.executemany(
        "INSERT INTO node VALUES (?, ?, ?)",
        [(i, label, dumps(props, ensure_ascii=False, sort_keys=True)) for i, label, props in NODES],
    )
    db.executemany(
        "INSERT INTO rel VALUES (?, ?, ?, ?, '{}')",
        [(rel, start, start, end) for rel, start, end in REFERENCES],
    )
    db.executemany(
        "INSERT INTO rel VALUES (?, ?, ?, ?, ?)",
        [(t, k, s, e, dumps(p, sort_keys=True)) for t, k, s, e, p in LINKS],
    )
    db.commit()
    db.close()
    return path


def settings(folder: Path) -> Settings:
    return Settings(store=StoreKind.LOCAL, data=folder)


def opened(folder: Path) -> tuple[DuckStore, list[str]]:
    said: list[str] = []
    store = open_store(settings(folder), said.append)
    assert isinstance(store, DuckStore)
    return store, said


def test_an_old_store_moves_in_whole_with_typed_values(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    old = old_store(folder)
    store, said = opened(folder)

    expected = {
        node_id: Node(
            Label(label),
            props,
            {RelType(rel): end for rel, start, end in REFERENCES if start == node_id},
        )
        for node_id, label, props in NODES
    }
    assert store.nodes(list(expected)) == expected
    keys = [(RelType(t), k) for t, k, *_ in LINKS]
    assert store.links(keys) == {
        (RelType(t), k): Link(RelType(t), s, e, k, p) for t, k, s, e, p in LINKS
    }
    assert store.counts() == {"Area": 3, "PartyOrg": 1, "Person": 2} | {
        "WITHIN": 2,
        "BUILT_ON": 1,
        "HOLDS_POST": 2,
    }
    # dates and flags are typed columns, not text
    assert store.query('SELECT birth_date, party_member FROM "Person" ORDER BY id') == [
        (date(1975, 3, 8), True),
        (None, False),
    ]
    assert store.query('SELECT since, until, concurrent FROM "HOLDS_POST" ORDER BY key') == [
        (date(2021, 7, 1), None, False),
        (None, date(2025, 12, 31), True),
    ]
    assert store.query('SELECT population FROM "Area" WHERE id = $id', {"id": "S"}) == [(42000,)]

    kept = folder / "grassroots.sqlite.migrated"
    assert not old.exists() and kept.is_file()
    assert said == [
        f"moved the earlier version's store (6 nodes, 5 links) from {old} into"
        f" {folder / 'grassroots.duckdb'}; the old file is kept as {kept}"
    ]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".migrating")]
    store.close()

    # a second open finds nothing to move, and the kept file stays as it was
    kept_bytes = kept.read_bytes()
    again, said = opened(folder)
    assert said == [] and again.nodes(list(expected)) == expected
    again.close()
    assert kept.read_bytes() == kept_bytes


def test_an_old_file_beside_a_new_store_is_left_alone(tmp_path: Path) -> None:
    """Once the folder has a DuckDB store, an old file put back (or copied in) is not
    moved again over what the store holds now."""
    folder = tmp_path / "data"
    with DuckStore(folder) as store:
        store.reset()
    old = old_store(folder)
    store, said = opened(folder)
    assert said == [] and store.counts() == {} and old.exists()
    store.close()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: path.write_bytes(b"\x00 not a database " * 64), "file is not a database"),
        (lambda path: sqlite3.connect(path).close(), "no such table: node"),
        (
            lambda path: _sql(path, "UPDATE node SET label = 'Building' WHERE id = 'G1'"),
            "node 'G1' has the unknown label 'Building'",
        ),
        (
            lambda path: _sql(path, "UPDATE rel SET props = '[1]' WHERE type = 'HOLDS_POST'"),
            "has no JSON object of properties",
        ),
        (
            lambda path: _sql(path, "DELETE FROM node WHERE id = 'OS'"),
            "names a node the store does not hold",
        ),
    ],
)
def test_a_damaged_old_file_is_one_line_that_says_what_to_do(
    tmp_path: Path, damage: Any, reason: str
) -> None:
    folder = tmp_path / "data"
    old = old_store(folder)
    if "not a database" in reason or "no such table" in reason:
        old.unlink()
    damage(old)
    with pytest.raises(StoreUnavailable) as caught:
        opened(folder)
    message = str(caught.value)
    assert "\n" not in message and reason in message and str(old) in message
    assert "restore it from a backup" in message and "move it out of GRASSROOTS_DATA" in message
    assert old.exists() and not (folder / "grassroots.duckdb").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["grassroots.sqlite"]


def _sql(path: Path, statement: str) -> None:
    db = sqlite3.connect(path)
    db.execute(statement)
    db.commit()
    db.close()


def test_the_command_line_says_what_moved_once(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    old = old_store(folder)
    env = dict(os.environ, GRASSROOTS_DATA=str(folder), GRASSROOTS_STORE="memory")
    dump = tmp_path / "graph.jsonl"
    first = subprocess.run(
        [GRASSROOTS, "export", str(dump)], env=env, capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    line = first.stderr.splitlines()[0]  # then the export's own note on personal data
    assert line.startswith("moved the earlier version's store (6 nodes, 5 links)")
    assert f"from {old}" in line and f"{old}.migrated" in line
    assert len(dump.read_text(encoding="utf-8").splitlines()) == len(NODES) + 5
    again = subprocess.run(
        [GRASSROOTS, "export", str(dump)], env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "moved" not in again.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "grassroots.sqlite").write_bytes(b"garbage" * 100)
    failed = subprocess.run(
        [GRASSROOTS, "coverage"],
        env=dict(env, GRASSROOTS_DATA=str(broken)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    (error,) = failed.stderr.splitlines()
    assert error.startswith("error: the store of an earlier version") and "Traceback" not in error
