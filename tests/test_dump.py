"""The JSONL dump: export then import reproduces any graph exactly, on both stores and
from one store to the other; a dump is the ledger's graph, as docs/ledger.md states it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grassroots.errors import LedgerError
from grassroots.graph.duck import DuckStore
from grassroots.graph.store import Store
from grassroots.importers import import_path, write_dump
from grassroots.schema import AreaKind, OrgForm, PostKind
from tests.conftest import snapshot
from tests.ledgers import Ledger, small_city, write_ledger

# Cell text as a planner writes it: Chinese, Latin, digits, punctuation; no surrounding
# blanks (the importer trims them) and no control characters.
CELL = (
    st.text(
        alphabet=st.sampled_from(
            "大连市中山区桃源街道东山社区网格楼党支部王李张伟芳abcXYZ019-_/ ()（）·"
        ),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def ledgers(draw: st.DrawFn) -> Ledger:
    areas: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 7))):
        parents = [a for a in areas if AreaKind(a["kind"]).level < 5]
        parent = draw(st.none() | st.sampled_from(parents)) if parents else None
        floor = AreaKind(parent["kind"]).level if parent else -1
        kind = draw(st.sampled_from([k for k in AreaKind if k.level > floor]))
        row = {
            "id": f"A{index}",
            "name": draw(CELL),
            "kind": kind.value,
            "parent_id": parent["id"] if parent else "",
        }
        if draw(st.booleans()):
            row["households"] = str(draw(st.integers(0, 5000)))
        if draw(st.booleans()):
            row["备注"] = draw(CELL)  # an extra column, kept as a property
        areas.append(row)
    orgs: list[dict[str, Any]] = []
    for index in range(draw(st.integers(0, 5))):
        parent = draw(st.none() | st.sampled_from(orgs)) if orgs else None
        orgs.append(
            {
                "id": f"O{index}",
                "name": draw(CELL),
                "form": draw(st.sampled_from(list(OrgForm))),
                "parent_id": parent["id"] if parent else "",
                "area_id": draw(st.sampled_from(areas))["id"] if draw(st.booleans()) else "",
            }
        )
    people = [
        {
            "id": f"P{i}",
            "name": draw(CELL),
            "party_member": draw(st.sampled_from(["true", "false", "是", "否", ""])),
        }
        for i in range(draw(st.integers(1, 4)))
    ]
    posts = []
    if orgs:
        for person in people:
            if draw(st.booleans()):
                since = draw(st.none() | DAYS)
                until = draw(st.none() | DAYS.filter(lambda d, s=since: s is None or d >= s))
                posts.append(
                    {
                        "person_id": person["id"],
                        "org_id": draw(st.sampled_from(orgs))["id"],
                        "post": draw(st.sampled_from(list(PostKind))).value,
                        "concurrent": draw(st.sampled_from(["true", "0", ""])),
                        "since": since.isoformat() if since else "",
                        "until": until.isoformat() if until else "",
                    }
                )
    return {"areas": areas, "party_orgs": orgs, "people": people, "posts": posts}


def _reimported(dump: Path, tmp_path: Path, name: str) -> str:
    """The dump imported into a fresh embedded store (from Neo4j: the other store), and
    dumped again."""
    fresh = DuckStore(tmp_path / name)
    import_path(fresh, dump)
    text = snapshot(fresh, tmp_path)
    fresh.close()
    return text


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ledger=ledgers())
def test_export_then_import_reproduces_any_graph(
    ledger: Ledger, store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("roundtrip")
    store.reset()
    import_path(store, write_ledger(tmp / "ledger", ledger))
    dump = tmp / "graph.jsonl"
    write_dump(store, dump)
    original = dump.read_text(encoding="utf-8")
    assert sorted(original.splitlines()) == _expected_dump_lines(ledger)
    assert _reimported(dump, tmp, "copy") == original
    store.reset()
    import_path(store, dump)  # and back into the same kind of store
    assert snapshot(store, tmp) == original


# The graph a ledger becomes, as docs/ledger.md states it, written out by hand so that a
# dump can be checked against the ledger rather than against another dump.
NODE_TABLES: dict[str, tuple[str, dict[str, str]]] = {  # table: label, {column: relationship}
    "areas": ("Area", {"parent_id": "WITHIN"}),
    "party_orgs": ("PartyOrg", {"parent_id": "UNDER", "area_id": "BUILT_ON"}),
    "units": ("Unit", {"area_id": "LOCATED_IN"}),
    "people": ("Person", {}),
    "households": ("Household", {"building_id": "IN_BUILDING"}),
    "pairings": (
        "Pairing",
        {"unit_id": "WITH_UNIT", "org_id": "WITH_ORG", "responsible_id": "LED_BY"},
    ),
    "projects": ("Project", {"pairing_id": "FOR_PAIRING"}),
    "dispatches": (
        "Dispatch",
        {"person_id": "OF_PERSON", "unit_id": "SENT_BY", "area_id": "SENT_TO"},
    ),
}
LINK_TABLES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {  # type, end column, key
    "posts": ("HOLDS_POST", "org_id", "PartyOrg", ("person_id", "org_id", "post", "since")),
    "employments": ("EMPLOYED_BY", "unit_id", "Unit", ("person_id", "unit_id", "since")),
    "contacts": ("CONTACTS", "household_id", "Household", ("person_id", "household_id", "since")),
    "reports": ("REPORTS_TO", "org_id", "PartyOrg", ("person_id", "org_id", "since")),
}
WHOLE_NUMBERS = {"households", "population", "member_count", "size"}
FLAGS = {"party_member", "concurrent", "leadership"}
FLAG_CELLS = {"true": True, "1": True, "是": True, "false": False, "0": False, "否": False}
DEFAULTS: dict[str, dict[str, Any]] = {  # the contract's defaults for an empty cell
    "party_orgs": {"category": "territorial"},
    "posts": {"concurrent": False},
    "employments": {"leadership": False},
}


def _expected_dump_lines(ledger: Ledger) -> list[str]:
    """The dump lines of ``ledger``'s graph, sorted: the dump's line shape, built from rows."""

    def value(column: str, cell: str) -> Any:
        if column in WHOLE_NUMBERS:
            return int(cell)
        if column in FLAGS:
            return FLAG_CELLS[cell]
        return cell

    labels = {row["id"]: NODE_TABLES[t][0] for t in NODE_TABLES for row in ledger.get(t, [])}
    lines: list[dict[str, Any]] = []
    for table, rows in ledger.items():
        for row in rows:
            cells = {c: v for c, v in row.items() if v != ""}
            if table in NODE_TABLES:
                label, refs = NODE_TABLES[table]
                props = {
                    **DEFAULTS.get(table, {}),
                    **{c: value(c, v) for c, v in cells.items() if c not in refs},
                }
                lines.append(
                    {"type": "node", "id": row["id"], "labels": [label], "properties": props}
                )
                for column, rel in refs.items():
                    if column in cells:
                        lines.append(
                            {
                                "type": "relationship",
                                "id": f"{rel}:{row['id']}",
                                "label": rel,
                                "start": {"id": row["id"], "labels": [label]},
                                "end": {"id": cells[column], "labels": []},
                                "properties": {},
                            }
                        )
            else:
                rel, end_column, end_label, key = LINK_TABLES[table]
                ends = ("person_id", end_column)
                lines.append(
                    {
                        "type": "relationship",
                        "id": f"{rel}:{'|'.join(cells.get(c, '') for c in key)}",
                        "label": rel,
                        "start": {"id": cells["person_id"], "labels": [labels[cells["person_id"]]]},
                        "end": {"id": cells[end_column], "labels": [end_label]},
                        "properties": {
                            **DEFAULTS.get(table, {}),
                            **{c: value(c, v) for c, v in cells.items() if c not in ends},
                        },
                    }
                )
    return sorted(json.dumps(line, ensure_ascii=False, sort_keys=True) for line in lines)


def test_both_stores_dump_the_same_graph_identically(
    store: Store, store_kind: str, tmp_path: Path
) -> None:
    ledger = small_city()
    import_path(store, write_ledger(tmp_path / "l", ledger))
    dumped = snapshot(store, tmp_path)
    # each store's dump is the ledger's graph, line for line ...
    assert sorted(dumped.splitlines()) == _expected_dump_lines(ledger)
    if store_kind == "neo4j":
        # ... and Neo4j's is the embedded store's, byte for byte, in order
        local = DuckStore(tmp_path / "local")
        import_path(local, write_ledger(tmp_path / "l2", ledger))
        assert dumped == snapshot(local, tmp_path)
        local.close()


def test_dump_lines_have_the_apoc_shape(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    dump = tmp_path / "g.jsonl"
    write_dump(store, dump)
    lines = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]
    node = next(x for x in lines if x["type"] == "node" and x["id"] == "K")
    assert node == {
        "type": "node",
        "id": "K",
        "labels": ["Area"],
        "properties": {"id": "K", "name": "东山社区", "kind": "community"},
    }
    post = next(x for x in lines if x.get("label") == "HOLDS_POST")
    assert set(post) == {"type", "id", "label", "start", "end", "properties"}
    assert post["start"] == {"id": "P1", "labels": ["Person"]}
    assert post["end"]["id"] == "OK"


def test_a_broken_dump_is_rejected_whole(store: Store, tmp_path: Path) -> None:
    dump = tmp_path / "bad.jsonl"
    dump.write_text(
        '{"type":"node","id":"A","labels":["Area"],"properties":{"id":"A","name":"a","kind":"city"}}\n'
        "not json\n"
        '{"type":"node","id":"B","labels":["Spaceship"],"properties":{"id":"B"}}\n'
        '{"type":"relationship","label":"WITHIN","start":{"id":"A"},"end":{"id":"Z"},"properties":{}}\n',
        encoding="utf-8",
    )
    with pytest.raises(LedgerError) as caught:
        import_path(store, dump)
    lines = [str(p) for p in caught.value.problems]
    assert "dump row 2 line: not JSON (Expecting value)" in lines
    assert any(line.startswith("dump row 3 labels:") for line in lines)
    assert any(line.startswith("areas row 1 parent_id: no areas") for line in lines)
    assert store.counts() == {}
