"""Walks up and down the trees (``Store.descendants``, ``Store.ancestors``) on every
store, and the reads built on them: each costs the same number of store calls whatever
the depth or the number of ids."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from grassroots.graph.store import MAX_DEPTH, Above, Below, Changes, Store, async_reads, chain
from grassroots.importers import import_path
from grassroots.queries.linkage import org_chart, responsible_chain
from grassroots.queries.places import TRAIL_RELS, areas_within, describe
from grassroots.schema import Label, Node, RelType
from tests.counting import Counting
from tests.ledgers import Ledger, small_city, write_ledger


def _org(
    org_id: str, name: str, parent: str, area: str = "B1", form: str = "group"
) -> dict[str, str]:
    return {"id": org_id, "name": name, "form": form, "parent_id": parent, "area_id": area}


def deep_city(height: int) -> Ledger:
    """The small city with a chain of ``height`` groups below 1号楼党小组 (OB1)."""
    ledger = small_city()
    parent = "OB1"
    for level in range(1, height + 1):
        ledger["party_orgs"].append(_org(f"X{level}", f"第{level}层党小组", parent))
        parent = f"X{level}"
    return ledger


@pytest.fixture
def city(store: Store, tmp_path: Path) -> Store:
    import_path(store, write_ledger(tmp_path / "city", deep_city(40)))
    return store


def test_descendants_walk_down_breadth_first(city: Store) -> None:
    assert city.descendants(["C"], RelType.WITHIN) == [
        Below("C", None, 0, 1),
        Below("D", "C", 1, 2),
        Below("S", "D", 2, 1),
        Below("T", "D", 2, 1),
        Below("K", "S", 3, 2),
        Below("V", "T", 3, 0),
        Below("G1", "K", 4, 1),
        Below("G2", "K", 4, 1),
        Below("B1", "G1", 5, 0),
        Below("B2", "G2", 5, 0),
    ]
    assert city.descendants(["OC"], RelType.UNDER, 2) == [
        Below("OC", None, 0, 1),
        Below("OD", "OC", 1, 1),
        Below("OS", "OD", 2, 1),  # a child below the depth is still counted
    ]
    assert areas_within(city, "S") == ["S", "K", "G1", "G2", "B1", "B2"]
    deepest = city.descendants(["OB1"], RelType.UNDER)
    assert [row.depth for row in deepest] == list(range(MAX_DEPTH + 1))  # never beyond
    assert city.descendants(["OC", "nobody"], RelType.WITHIN) == []  # not areas
    assert city.descendants(["OS", "OD"], RelType.UNDER, 0) == [
        Below("OD", None, 0, 1),
        Below("OS", None, 0, 1),
    ]


def test_ancestors_climb_every_trail(city: Store) -> None:
    found = city.ancestors(["H1", "PJ1", "nobody"], TRAIL_RELS)
    assert set(found) == {"H1", "B1", "G1", "K", "S", "D", "C"} | {
        "PJ1",
        "PR1",
        "OK",
        "OS",
        "OD",
        "OC",
    }
    assert chain(found, "H1") == ["H1", "B1", "G1", "K", "S", "D", "C"]
    assert chain(found, "PJ1") == ["PJ1", "PR1", "OK", "OS", "OD", "OC"]
    assert found["H1"] == Above(Label.HOUSEHOLD, "1-101", "B1")
    assert found["PR1"] == Above(Label.PAIRING, None, "OK")
    assert found["C"] == Above(Label.AREA, "大连市", None)
    assert city.ancestors(["P1", "OK", "nobody"], ()) == {
        "P1": Above(Label.PERSON, "王伟", None),
        "OK": Above(Label.PARTY_ORG, "东山社区党委", None),
    }
    tall = city.ancestors(["X40"], (RelType.UNDER,))
    assert len(chain(tall, "X40")) == MAX_DEPTH
    assert chain(tall, "X40")[-1] == "X9"
    assert set(tall) == {f"X{n}" for n in range(9, 41)}  # no walk goes further


def test_a_cycle_ends_every_walk(store: Store) -> None:
    """Bad data written past the importer's checks: two orgs each under the other."""
    store.write(
        Changes(
            nodes=[
                Node(
                    Label.PARTY_ORG,
                    {"id": "A", "name": "甲", "form": "branch"},
                    {RelType.UNDER: "B"},
                ),
                Node(
                    Label.PARTY_ORG,
                    {"id": "B", "name": "乙", "form": "branch"},
                    {RelType.UNDER: "A"},
                ),
            ],
            new={"A", "B"},
        )
    )
    assert store.descendants(["A"], RelType.UNDER) == [
        Below("A", None, 0, 1),
        Below("B", "A", 1, 1),
    ]
    found = store.ancestors(["A"], (RelType.UNDER,))
    assert set(found) == {"A", "B"}
    assert chain(found, "A") == ["A", "B"]
    assert describe(store, ["A"]) == {"A": ("甲", "乙/甲")}


def test_describe_names_deep_trails_in_chinese(city: Store) -> None:
    described = describe(city, ["H1", "PJ1", "DP1", "PR1", "X3", "X40", "nobody"])
    assert described == {
        "H1": ("1-101", "大连市/中山区/桃源街道/东山社区/东山第1网格/1号楼/1-101"),
        "PJ1": (
            "老旧小区改造",
            "市委/区委/街道党工委/东山社区党委/市财政局—东山社区党委/老旧小区改造",
        ),
        "PR1": ("市财政局—东山社区党委", "市委/区委/街道党工委/东山社区党委/市财政局—东山社区党委"),
        "DP1": ("李娜(resident)", "大连市/中山区/桃源街道/东山社区/李娜(resident)"),
        "X3": (
            "第3层党小组",
            "市委/区委/街道党工委/东山社区党委/第1网格党支部/1号楼党小组/第1层党小组/第2层党小组/第3层党小组",
        ),
        # a trail is at most MAX_DEPTH names long: the 32 nearest
        "X40": ("第40层党小组", "/".join(f"第{n}层党小组" for n in range(9, 41))),
    }


def test_tree_reads_cost_the_same_whatever_the_depth(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "shallow", small_city()))
    counting = Counting(store)
    shallow = (
        counting.cost(org_chart, "OG1", 3),  # one level below it
        counting.cost(responsible_chain, "H1"),
        counting.cost(responsible_chain, "OB1"),
        counting.cost(describe, ["H1"]),
    )
    import_path(store, write_ledger(tmp_path / "deep", deep_city(12)))
    households = [{"id": f"H{n}", "building_id": "B2", "name": f"2-{n:03d}"} for n in range(3, 203)]
    import_path(store, write_ledger(tmp_path / "more", {"households": households}))
    deep = (
        counting.cost(org_chart, "OG1", 3),  # fourteen levels below it
        counting.cost(responsible_chain, "H1"),
        counting.cost(responsible_chain, "X12"),
        counting.cost(describe, [h["id"] for h in households] + ["X12", "PJ1", "DP1"]),
    )
    assert deep == shallow, (shallow, deep)
    assert max(deep) <= 6, deep


def test_nodes_of_one_label(city: Store) -> None:
    assert set(city.nodes(["OK", "P1", "K", "nobody"], Label.PARTY_ORG)) == {"OK"}
    assert set(city.nodes(["OK", "P1", "K", "nobody"])) == {"OK", "P1", "K"}
    assert city.nodes(["nobody"]) == {} and city.nodes(["nobody"], Label.AREA) == {}
    many = [f"n{n}" for n in range(20)] + ["H1", "DP1"]  # more than a lookup's few
    assert set(city.nodes(many)) == {"H1", "DP1"}


def test_neighbours_along_matching_links_only(city: Store) -> None:
    """``where`` filters the links a read follows, on every store: an org chart reads
    its orgs' secretaries, not every post they hold."""
    from grassroots.graph.filters import matches

    every = city.neighbours(["OK", "OS"], RelType.HOLDS_POST, "in")
    secretaries = {"post": ["secretary"]}
    chosen = city.neighbours(["OK", "OS"], RelType.HOLDS_POST, "in", secretaries)
    assert chosen == {
        o: [n for n in found if matches(n[1], secretaries)] for o, found in every.items()
    }
    assert [person for person, _ in chosen["OK"]] == ["P1"] and len(every["OK"]) == 2
    assert city.neighbours(["OK"], RelType.HOLDS_POST, "in", {"concurrent": True}) == {
        "OK": [n for n in every["OK"] if n[0] == "P3"]
    }
    # a reference has no properties: any filter on one finds nothing, none finds all
    assert city.neighbours(["K"], RelType.WITHIN, "in", {"post": ["secretary"]}) == {"K": []}
    assert city.neighbours(["K"], RelType.WITHIN, "in", {}) == city.neighbours(
        ["K"], RelType.WITHIN, "in"
    )


def test_awaited_reads_answer_as_the_sync_reads(city: Store, store_kind: str) -> None:
    """The API's reads (``AsyncReads``: Neo4j's run the same plans on the AsyncDriver)
    give what the sync protocol gives, one empty read included."""
    reads = async_reads(city, ThreadPoolExecutor(2))
    assert type(reads).__name__ == {"local": "ThreadedReads", "neo4j": "Neo4jReads"}[store_kind]

    async def awaited() -> list[Any]:
        return [
            await reads.nodes(["OK", "P1", "nobody"]),
            await reads.nodes(["OK", "P1"], Label.PARTY_ORG),
            await reads.nodes([]),
            await reads.neighbours(["OK", "P1"], RelType.HOLDS_POST, "in"),
            await reads.find(Label.AREA, search="网格", limit=1),
            await reads.descendants(["OC"], RelType.UNDER, 3),
            await reads.ancestors(["X40", "H1"], TRAIL_RELS),
            await reads.counts(),
            await reads.call(lambda store: store.tree(Label.AREA)),
        ]

    assert asyncio.run(awaited()) == [
        city.nodes(["OK", "P1", "nobody"]),
        city.nodes(["OK", "P1"], Label.PARTY_ORG),
        {},
        city.neighbours(["OK", "P1"], RelType.HOLDS_POST, "in"),
        city.find(Label.AREA, search="网格", limit=1),
        city.descendants(["OC"], RelType.UNDER, 3),
        city.ancestors(["X40", "H1"], TRAIL_RELS),
        city.counts(),
        city.tree(Label.AREA),
    ]
