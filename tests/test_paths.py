"""The link path (``grassroots.queries.paths``, ``grassroots path``, GraphQL
``linkPath``) on every store: the chains it finds, as of a day, its bounds, and that
every store gives the very same answer."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import networkx as nx
import pytest
from fastapi.testclient import TestClient

from grassroots.api.app import create_app
from grassroots.errors import NotFound
from grassroots.graph.duck import DuckStore
from grassroots.graph.filters import active
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries.paths import LinkPath, as_json, link_path, resolve_end
from grassroots.sample.city import generate, write_bundle
from grassroots.schema import Link
from grassroots.schema.tables import DATED_LABELS
from grassroots.settings import Settings
from tests.ledgers import Ledger, small_city, write_ledger

GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))
DAY = date(2025, 1, 1)


def path_city() -> Ledger:
    """The small city, plus: a cadre of the police station dispatched to the village; a
    port group paired (until mid-2025) with the subdistrict's working committee, which
    leads the second grid's branch directly; a person linked to nothing."""
    ledger = small_city()
    ledger["units"].append(
        {"id": "U3", "name": "大连港集团", "kind": "state_enterprise", "area_id": "C"}
    )
    ledger["people"].append({"id": "P9", "name": "赵敏"})
    ledger["party_orgs"].append(
        {"id": "OG2", "name": "第2网格党支部", "form": "branch", "parent_id": "OS", "area_id": "G2"}
    )
    ledger["pairings"].append(
        {
            "id": "PR2",
            "unit_id": "U3",
            "org_id": "OS",
            "since": "2023-01-01",
            "until": "2025-06-30",
        }
    )
    ledger["dispatches"].append(
        {
            "id": "DP2",
            "person_id": "P3",
            "unit_id": "U2",
            "area_id": "V",
            "role": "liaison",
            "since": "2024-01-01",
        }
    )
    return ledger


@pytest.fixture
def city(store: Store, tmp_path: Path) -> Store:
    import_path(store, write_ledger(tmp_path / "ledger", path_city()))
    return store


def chain(store: Store, found: LinkPath) -> list[tuple[str, str, bool]]:
    """(relationship, the node it leads to, forward) for each step."""
    return [(s["rel"], s["to"], s["forward"]) for s in as_json(store, found)["steps"]]


def test_a_person_reaches_a_village_through_a_dispatch(city: Store) -> None:
    found = link_path(city, "P3", "V", DAY)
    assert [n.id for n in found.nodes] == ["P3", "DP2", "V"]
    assert chain(city, found) == [("OF_PERSON", "DP2", False), ("SENT_TO", "V", True)]
    assert not found.cut


def test_a_unit_reaches_a_grid_through_a_pairing_and_the_org_tree(city: Store) -> None:
    found = link_path(city, "U3", "G2", DAY)
    assert [n.id for n in found.nodes] == ["U3", "PR2", "OS", "OG2", "G2"]
    assert chain(city, found) == [
        ("WITH_UNIT", "PR2", False),
        ("WITH_ORG", "OS", True),
        ("UNDER", "OG2", False),
        ("BUILT_ON", "G2", True),
    ]


def test_an_ended_pairing_counts_before_its_end_only(city: Store) -> None:
    before = link_path(city, "U3", "G2", date(2025, 6, 30))
    after = link_path(city, "U3", "G2", date(2025, 7, 1))
    assert "PR2" in [n.id for n in before.nodes]
    # after the pairing, only the area tree is left: the city down to the grid
    assert [n.id for n in after.nodes] == ["U3", "C", "D", "S", "K", "G2"]


def test_a_link_counts_only_while_active(city: Store) -> None:
    # 王伟 holds a post in 东山社区党委 since 2021; before that he is linked to nothing
    assert link_path(city, "P1", "OK", date(2022, 1, 1)).steps[0].props["post"] == "secretary"
    assert not link_path(city, "P1", "OK", date(2020, 12, 31)).found


def test_of_equal_chains_the_smallest_ids_win(city: Store) -> None:
    # 李娜 reaches 东山社区 in two steps twice: by her dispatch DP1, and by reporting to
    # OK, which is built on it; and her post as pairing leader is a step longer
    found = link_path(city, "P2", "K", DAY)
    assert [n.id for n in found.nodes] == ["P2", "DP1", "K"]


def test_no_path(city: Store) -> None:
    found = link_path(city, "P9", "V", DAY)
    assert not found.found and found.nodes == [] and found.steps == []
    assert as_json(city, found)["hops"] is None


def test_the_hops_are_bounded(city: Store) -> None:
    assert link_path(city, "U3", "G2", DAY, max_hops=4).found
    assert not link_path(city, "U3", "G2", DAY, max_hops=3).found


def test_a_cut_frontier_is_reported(city: Store) -> None:
    # the city has two districts' worth of children at most: cut at one, the search says so
    found = link_path(city, "C", "H2", DAY, max_frontier=1)
    assert found.cut


def test_a_node_to_itself_is_no_step(city: Store) -> None:
    found = link_path(city, "K", "K", DAY)
    assert [n.id for n in found.nodes] == ["K"] and found.steps == []


def test_ends_by_name_and_unknown_ends(city: Store) -> None:
    assert resolve_end(city, "河口村", "A") == "V"
    with pytest.raises(NotFound, match="neither the id nor the name of any node"):
        resolve_end(city, "NOPE", "A")
    with pytest.raises(NotFound, match="no node has id 'NOPE'"):
        link_path(city, "P1", "NOPE", DAY)


def _whole_graph(store: Store, day: str) -> nx.Graph[str]:
    """Every hop active on ``day``, from the whole graph (``elements()``), with nothing
    of the search's: what the shortest chains must be measured against."""
    graph: nx.Graph[str] = nx.Graph()
    links, refs = [], []
    for element in store.elements():
        if isinstance(element, Link):
            links.append(element)
        elif element.label not in DATED_LABELS or active(element.props, day):
            graph.add_node(element.id)
            refs += [(element.id, target) for target in element.refs.values()]
    graph.add_edges_from((near, far) for near, far in refs if far in graph)
    for link in links:
        if link.start in graph and link.end in graph and active(link.props, day):
            graph.add_edge(link.start, link.end)
    return graph


def test_every_store_gives_the_same_answers(store: Store, tmp_path: Path) -> None:
    """The chain's length is the shortest on the whole graph as of the day (plain
    networkx over every element, not the search), its steps real, and a second store
    (DuckDB) finds the very same chain."""
    rows = generate("small")
    folder = tmp_path / "city"
    list(write_bundle(rows, folder))
    import_path(store, folder)
    whole = _whole_graph(store, DAY.isoformat())
    reference = DuckStore(tmp_path / "reference")
    try:
        import_path(reference, folder)
        ids = sorted(r["id"] for table in rows.values() for r in table if "id" in r)
        pairs = [tuple(random.Random(seed).sample(ids, 2)) for seed in range(12)]
        found = 0
        for a, b in pairs:
            answer = link_path(store, a, b, DAY)
            try:
                shortest: int | None = nx.shortest_path_length(whole, a, b)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                shortest = None
            assert not answer.cut, (a, b)
            if shortest is None or shortest > answer.max_hops:
                assert not answer.found, (a, b)
                continue
            found += 1
            assert len(answer.steps) == shortest, (a, b)
            for step, (near, far) in zip(
                answer.steps, itertools.pairwise(answer.nodes), strict=True
            ):
                assert whole.has_edge(near.id, far.id) and {step.start, step.end} == {
                    near.id,
                    far.id,
                }
            theirs = as_json(reference, link_path(reference, a, b, DAY))
            assert as_json(store, answer) == theirs, (a, b)
        assert found >= 3  # the pairs exercise real chains, not only "no link"
    finally:
        reference.close()


# -- the command and the API ----------------------------------------------------------------


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GRASSROOTS, *args], env={**env, "COLUMNS": "200"}, capture_output=True, text=True
    )


def test_the_command_prints_the_chain_in_chinese_and_no_personal_field(
    city: Store, env: dict[str, str]
) -> None:
    shown = run(env, "path", "王伟", "1号楼", "--as-of", "2025-01-01")
    assert shown.returncode == 0, shown.stderr
    assert "联系户" in shown.stdout and "住在" in shown.stdout and "1-101 H1" in shown.stdout
    assert "13812345678" not in shown.stdout and "21020219800101123X" not in shown.stdout
    answer = json.loads(
        run(env, "path", "P3", "V", "--as-of", "2025-01-01", "--format", "json").stdout
    )
    assert [n["id"] for n in answer["nodes"]] == ["P3", "DP2", "V"]
    assert answer["nodes"][2]["path"] == "大连市/中山区/青堆镇/河口村"
    none = run(env, "path", "P9", "V")
    assert none.returncode == 0 and "no link within 8 steps" in none.stdout


def test_the_command_names_an_unknown_end_in_one_line(city: Store, env: dict[str, str]) -> None:
    failed = run(env, "path", "NOPE", "V")
    assert failed.returncode == 1
    assert failed.stderr.strip().count("\n") == 0, failed.stderr
    assert "'NOPE'" in failed.stderr and "give an id or an exact name" in failed.stderr


def test_link_path_in_graphql_masks_people_and_is_priced(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "ledger", path_city()))
    client = TestClient(create_app(Settings(), store=store))
    query = """{ linkPath(fromId: "王伟", toId: "H1", asOf: "2025-01-01") {
        found hops cut nodes { __typename ... on Person { id phone } ... on Household { id } }
        steps { type typeZh forward since fromId toId } } }"""
    reply = client.post("/graphql", json={"query": query}).json()
    found = reply["data"]["linkPath"]
    assert found["found"] and found["hops"] == 1
    assert found["nodes"] == [
        {"__typename": "Person", "id": "P1", "phone": "138****5678"},
        {"__typename": "Household", "id": "H1"},
    ]
    assert found["steps"] == [
        {
            "type": "CONTACTS",
            "typeZh": "联系户",
            "forward": True,
            "since": "2023-01-01",
            "fromId": "P1",
            "toId": "H1",
        }
    ]
    many = (
        "{ "
        + " ".join(f'p{i}: linkPath(fromId: "P1", toId: "V") {{ found }}' for i in range(21))
        + " }"
    )
    refused = client.post("/graphql", json={"query": many}).json()
    assert refused["errors"][0]["extensions"]["code"] == "COST_LIMIT"
