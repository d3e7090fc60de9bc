"""``grassroots export --format graphml|gexf``: the graph, or an area's subtree, read
back by networkx, with what it holds counted here again from the store's elements."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest

from grassroots.exports.graph_file import GraphFormat, write_graph
from grassroots.graph.filters import active
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.sample.city import generate, write_bundle
from grassroots.schema import Label, Link, Node, RelType
from tests.conftest import release
from tests.ledgers import small_city, write_ledger

GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))
READ = {GraphFormat.GRAPHML: nx.read_graphml, GraphFormat.GEXF: nx.read_gexf}


def expected_subtree(store: Store, area: str, day: str | None = None) -> tuple[Counter[str], int]:
    """Nodes per label and the number of edges of the subtree of ``area``, worked out
    from ``store.elements()`` alone, by following each node's references in Python."""
    nodes: dict[str, Node] = {}
    links: list[Link] = []
    for element in store.elements():
        if isinstance(element, Node):
            nodes[element.id] = element
        else:
            links.append(element)

    def current(node: Node) -> bool:
        dated = node.label in (Label.PAIRING, Label.DISPATCH)
        return day is None or not dated or active(node.props, day)

    def within(node_id: str | None) -> bool:
        while node_id is not None:
            if node_id == area:
                return True
            node_id = nodes[node_id].refs.get(RelType.WITHIN)
        return False

    def place(node: Node) -> str | None:
        if node.label is Label.AREA:
            return node.id
        if node.label is Label.PAIRING:
            return nodes[node.refs[RelType.WITH_ORG]].refs.get(RelType.BUILT_ON)
        if node.label is Label.PROJECT:
            pairing = nodes[node.refs[RelType.FOR_PAIRING]]
            return place(pairing) if current(pairing) else None
        for rel in (RelType.BUILT_ON, RelType.LOCATED_IN, RelType.IN_BUILDING, RelType.SENT_TO):
            if rel in node.refs:
                return node.refs[rel]
        return None

    inside = {n for n, node in nodes.items() if current(node) and within(place(node))}
    edge = set()
    for n in inside:
        if nodes[n].label in (Label.PAIRING, Label.DISPATCH):
            edge.update(nodes[n].refs.values())
    live = [ln for ln in links if day is None or active(ln.props, day)]
    for link in live:
        target = nodes[link.end]
        local = target.label is not Label.UNIT or target.refs.get(RelType.LOCATED_IN)
        if link.end in inside and local and within(place(target)):
            edge.add(link.start)
    chosen = inside | edge
    edges = sum(1 for n in chosen for end in nodes[n].refs.values() if end in chosen)
    edges += sum(1 for ln in live if ln.start in chosen and ln.end in chosen)
    return Counter(nodes[n].label.value for n in chosen), edges


def read(path: Path, fmt: GraphFormat) -> nx.DiGraph[str]:
    """The file as networkx reads it: a directed graph, a multigraph where two nodes
    are joined more than once."""
    graph = READ[fmt](path)
    assert isinstance(graph, nx.DiGraph)
    return graph


@pytest.fixture
def city(store: Store, tmp_path: Path) -> Store:
    list(write_bundle(generate("small"), tmp_path / "city"))
    import_path(store, tmp_path / "city")
    return store


@pytest.mark.parametrize("fmt", list(GraphFormat))
def test_the_whole_graph_reads_back(city: Store, tmp_path: Path, fmt: GraphFormat) -> None:
    path = tmp_path / f"city.{fmt.value}"
    summary = write_graph(city, path, fmt)
    graph = read(path, fmt)
    counts = city.counts()
    assert graph.number_of_nodes() == summary.nodes == sum(counts.get(lb, 0) for lb in Label)
    assert graph.number_of_edges() == summary.edges == sum(counts.get(r, 0) for r in RelType)
    labels = Counter(data["labels"] for _, data in graph.nodes(data=True))
    assert labels == Counter({lb.value: counts[lb] for lb in Label if lb in counts})
    types = Counter(data["label"] for _, _, data in graph.edges(data=True))
    assert types == Counter({r.value: counts[r] for r in RelType if r in counts})
    district = graph.nodes["D01"]
    assert (district["label"], district["name"], district["kind"]) == (
        "中山区",
        "中山区",
        "district",
    )
    posts = [d for _, _, d in graph.edges(data=True) if d["label"] == "HOLDS_POST"]
    assert all(isinstance(d["since"], str) and len(d["since"]) == 10 for d in posts if "since" in d)


@pytest.mark.parametrize(
    ("scope", "day", "fmt"),
    [
        ("D01S01K01", None, GraphFormat.GRAPHML),
        ("D01S01", "2026-06-30", GraphFormat.GEXF),
        ("D02", "2023-01-01", GraphFormat.GRAPHML),
    ],
)
def test_a_subtree_holds_what_lies_in_it(
    city: Store, tmp_path: Path, scope: str, day: str | None, fmt: GraphFormat
) -> None:
    path = tmp_path / f"scope.{fmt.value}"
    write_graph(city, path, fmt, scope, day)
    graph = read(path, fmt)
    labels, edges = expected_subtree(city, scope, day)
    assert Counter(data["labels"] for _, data in graph.nodes(data=True)) == labels
    assert graph.number_of_edges() == edges
    assert labels[Label.AREA.value] > 1 and labels[Label.PERSON.value] > 0


def test_the_command_exports_a_scope_by_name_as_of_a_day(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    ledger = small_city()
    ledger["pairings"][0]["until"] = "2025-06-30"
    import_path(store, write_ledger(tmp_path / "ledger", ledger))
    release(store)

    def export(*args: str) -> tuple[subprocess.CompletedProcess[str], nx.DiGraph[str]]:
        path = tmp_path / "k.graphml"
        done = subprocess.run(
            [GRASSROOTS, "export", str(path), "--format", "graphml", *args],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return done, read(path, GraphFormat.GRAPHML)

    done, before = export("--scope", "东山社区", "--as-of", "2025-06-30")
    assert "PR1" in before and "V" not in before and "C" not in before
    assert before.nodes["P1"]["phone"] == "13812345678"
    assert "personal data" in done.stderr and "1 people" in done.stderr
    done, after = export("--scope", "东山社区", "--as-of", "2025-07-01", "--no-personal")
    assert "PR1" not in after and "PJ1" not in after
    assert "phone" not in after.nodes["P1"] and after.nodes["P1"]["name"] == "王伟"
    assert "left out the personal fields" in done.stderr


def test_a_jsonl_dump_takes_no_scope(store: Store, env: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run(
        [GRASSROOTS, "export", str(tmp_path / "x.jsonl"), "--scope", "K"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "--format graphml or gexf" in done.stderr
