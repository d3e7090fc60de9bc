"""The graph, or an area's subtree, as a GraphML or GEXF file for Gephi, yEd and
Cytoscape, written by networkx.

What a node carries: ``label`` (what a viewer shows: the name, or for a pairing or a
dispatch the names of its ends), ``labels`` (its kind of node, as Neo4j labels it:
``Area``, ``Person``...) and every property but ``id`` (the node's own id) as it is
stored: ``kind``, ``name``, days as ISO text. An edge carries ``label`` (its
relationship type, ``WITHIN``, ``HOLDS_POST``...) and its properties, and the dump's
relationship id as its key. A property that holds values of several types in the graph
is written as text throughout, since GraphML and GEXF give an attribute one type.

The subtree of an area (``scope``): the areas within it, the party orgs built on them,
the units located in them, the households of its buildings, the pairings of its orgs
(with their projects) and the dispatches to its areas; then the people and units these
name (post holders, in-service members, contacts, employees, pairing leaders and
dispatched cadres; paired and dispatching units), and every relationship between two of
them. ``day`` keeps only what is active then: pairings, dispatches and links.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from grassroots.graph.filters import active
from grassroots.graph.store import Store
from grassroots.queries.places import areas_within, describe, display_name
from grassroots.schema import BY_LINK, Label, Link, Node, RelType
from grassroots.schema.person import PERSONAL
from grassroots.schema.tables import DATED_LABELS, DATED_RELS


class GraphFormat(StrEnum):
    GRAPHML = "graphml"
    GEXF = "gexf"


@dataclass(frozen=True)
class GraphSummary:
    nodes: int
    edges: int
    personal: int
    """People with any personal field (``PERSONAL``): written in full, or left out."""


INSIDE: tuple[tuple[Label, RelType], ...] = (
    (Label.PARTY_ORG, RelType.BUILT_ON),
    (Label.UNIT, RelType.LOCATED_IN),
    (Label.HOUSEHOLD, RelType.IN_BUILDING),
    (Label.DISPATCH, RelType.SENT_TO),
)
"""What lies in an area: the nodes whose reference points at it."""


def subtree(store: Store, area_id: str, day: str | None = None) -> list[Node | Link]:
    """The nodes and links of the subtree of ``area_id`` (see the module docstring):
    a bounded number of batched reads, one per kind of step."""
    areas = areas_within(store, area_id)
    ids: set[str] = set(areas)
    orgs: list[str] = []
    for label, rel in INSIDE:
        found = _sources(store, areas, rel)
        ids.update(found)
        if label is Label.PARTY_ORG:
            orgs = sorted(found)
    pairings = _sources(store, orgs, RelType.WITH_ORG)
    ids.update(pairings)
    ids.update(_sources(store, sorted(pairings), RelType.FOR_PAIRING))
    nodes = _kept(store.nodes(ids), day)
    # what the pairings and dispatches name, and who holds posts, reports, keeps in
    # touch or works there: the people and units at the subtree's edge
    named = {
        end
        for node in nodes.values()
        if node.label in (Label.PAIRING, Label.DISPATCH)
        for end in node.refs.values()
    }
    holders = [n for n, node in nodes.items() if node.label in (Label.PARTY_ORG, Label.HOUSEHOLD)]
    units = [n for n, node in nodes.items() if node.label is Label.UNIT]
    links: list[Link] = []
    for rel in BY_LINK:
        targets = units if rel is RelType.EMPLOYED_BY else holders
        for holders_of in store.neighbours(targets, rel, "in").values():
            for person, props in holders_of:
                if day is None or active(props, day):
                    named.add(person)
    nodes.update(_kept(store.nodes(named - nodes.keys()), day))
    people = sorted(n for n, node in nodes.items() if node.label is Label.PERSON)
    for rel in BY_LINK:
        for person, ends in store.neighbours(people, rel, "out").items():
            for end, props in ends:
                if end in nodes and (day is None or active(props, day)):
                    links.append(Link(rel, person, end, _link_key(rel, person, end, props), props))
    return [*(nodes[n] for n in sorted(nodes)), *links]


def _sources(store: Store, ids: Iterable[str], rel: RelType) -> set[str]:
    """The nodes whose ``rel`` points at any of ``ids``."""
    found = store.neighbours(list(ids), rel, "in")
    return {other for pairs in found.values() for other, _ in pairs}


def _kept(nodes: dict[str, Node], day: str | None) -> dict[str, Node]:
    """The nodes that exist on ``day``: pairings and dispatches active then, and the
    projects of the pairings kept (a project outlives no pairing)."""
    if day is None:
        return dict(nodes)
    kept = {
        n: node
        for n, node in nodes.items()
        if node.label not in DATED_LABELS or active(node.props, day)
    }
    return {
        n: node
        for n, node in kept.items()
        if node.label is not Label.PROJECT or node.refs.get(RelType.FOR_PAIRING) in kept
    }


def _link_key(rel: RelType, start: str, end: str, props: dict[str, Any]) -> str:
    """A link's natural key (``schema.tables``), from its ends and properties."""
    table = BY_LINK[rel]
    values = {table.refs[0].column: start, table.refs[1].column: end, **props}
    return table.key_of(values)


def build_graph(
    store: Store, elements: Iterable[Node | Link], day: str | None, personal: bool
) -> tuple[nx.MultiDiGraph[str], int]:
    """The elements as a networkx graph (references of a node to a node outside it are
    left out), and how many people had personal fields."""
    nodes: dict[str, Node] = {}
    links: list[Link] = []
    for element in elements:
        if isinstance(element, Node):
            nodes[element.id] = element
        elif day is None or element.type not in DATED_RELS or active(element.props, day):
            links.append(element)
    nodes = _kept(nodes, day)
    names = {n: name for n, (name, _) in describe(store, _unnamed(nodes)).items()}
    names.update({n: str(node.props.get("name") or n) for n, node in nodes.items()})
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    people = 0
    for node_id, node in nodes.items():
        props = {k: v for k, v in node.props.items() if k != "id"}
        if node.label is Label.PERSON and PERSONAL & props.keys():
            people += 1
            if not personal:
                props = {k: v for k, v in props.items() if k not in PERSONAL}
        graph.add_node(node_id, **props, labels=node.label.value, label=display_name(node, names))
    for node_id, node in nodes.items():
        for rel, end in sorted(node.refs.items()):
            if end in nodes:
                graph.add_edge(node_id, end, key=f"{rel.value}:{node_id}", label=rel.value)
    for link in links:
        if link.start in nodes and link.end in nodes:
            key = f"{link.type.value}:{link.key}"
            graph.add_edge(link.start, link.end, key=key, **link.props, label=link.type.value)
    _one_type_each(graph)
    return graph, people


def _unnamed(nodes: dict[str, Node]) -> list[str]:
    """Pairings and dispatches: named after their ends, which may lie outside."""
    return [n for n, node in nodes.items() if node.label in (Label.PAIRING, Label.DISPATCH)]


def _one_type_each(graph: nx.MultiDiGraph[str]) -> None:
    """Make every attribute one type across the graph (as both formats require): a day
    or a list becomes text, and an attribute holding values of several types becomes
    text everywhere."""
    for items in (
        [data for _, data in graph.nodes(data=True)],
        [data for _, _, data in graph.edges(data=True)],
    ):
        kinds: dict[str, set[type]] = {}
        for data in items:
            for name, value in list(data.items()):
                if value is None:
                    del data[name]
                    continue
                if not isinstance(value, str | int | float | bool):
                    value = data[name] = _text(value)
                kinds.setdefault(name, set()).add(type(value))
        mixed = {name for name, seen in kinds.items() if len(seen) > 1}
        for data in items:
            for name in mixed & data.keys():
                data[name] = _text(data[name])


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def write_graph(
    store: Store,
    path: Path,
    fmt: GraphFormat,
    scope: str | None = None,
    day: str | None = None,
    *,
    personal: bool = True,
) -> GraphSummary:
    """Write the graph (or the subtree of the area ``scope``), as of ``day`` if given,
    to ``path`` in ``fmt``, atomically."""
    elements = subtree(store, scope, day) if scope else store.elements()
    graph, people = build_graph(store, elements, day, personal)
    tmp = path.with_name(path.name + ".partial")
    try:
        if fmt is GraphFormat.GRAPHML:
            nx.write_graphml(graph, tmp, encoding="utf-8")
        else:
            nx.write_gexf(graph, tmp, encoding="utf-8")
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written file beside the target
        raise
    return GraphSummary(graph.number_of_nodes(), graph.number_of_edges(), people)
