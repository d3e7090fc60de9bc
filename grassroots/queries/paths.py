"""The link path: the shortest chain of relationships that joins two nodes of the graph
(a cadre and a village, a unit and a grid), as of a day.

Which hops count: every relationship of the graph (``RelType``): posts, employments,
contacts and reports (person -- org/unit/household), the ends of a pairing (unit --
pairing -- org, and its responsible leader) and of a dispatch (person -- dispatch --
unit and area), a project's pairing, and the trees (org UNDER org, area WITHIN area,
org BUILT_ON area, unit LOCATED_IN area, household IN_BUILDING building). Direction does
not matter for the chain; each step says which way its relationship points. A link
counts only when active on the day (``filters.active`` on its ``since``/``until``), and
a pairing or a dispatch only when it is itself active then.

How: breadth-first from both ends at once through the ``Store`` protocol only (one
``nodes()`` and a few ``neighbours()`` calls per hop, batched over the whole frontier),
so every store gives the same answer by construction. What the search saw becomes a
small ``networkx`` graph, in which networkx measures the distances. Of the shortest
chains, the one whose sequence of ids is lexicographically smallest is the answer, and
of several relationships between two nodes on it, the smallest by type, direction and
properties: every store and every run agree.

Bounds: at most ``max_hops`` steps (8), and at most ``max_frontier`` nodes (2,000)
carried into the next hop on each side, the first by id. A bound that cut the search is
reported (``cut``): the chain found is real, but a shorter one may exist, and "none
found" then means none within what was searched.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import networkx as nx
import orjson

from grassroots.errors import NotFound
from grassroots.graph.filters import active
from grassroots.graph.store import Direction, Store
from grassroots.queries.places import describe, resolve
from grassroots.schema import BY_LABEL, TABLES, Label, Node, RelType
from grassroots.schema.tables import DATED_LABELS, DATED_RELS

MAX_HOPS = 8
MAX_FRONTIER = 2000


def _expansions() -> dict[Label, tuple[tuple[RelType, Direction], ...]]:
    """For each label, the relationships to ask ``neighbours()`` about: references into
    a node of that label, and links at either end. References out of a node need no
    query: the node holds them (``Node.refs``)."""
    out: dict[Label, list[tuple[RelType, Direction]]] = {label: [] for label in Label}
    for label, own in BY_LABEL.items():
        for table in TABLES:
            for position, ref in enumerate(table.refs):
                if ref.target != own.name:
                    continue
                if table.is_node:
                    out[label].append((ref.rel, "in"))
                else:
                    out[label].append((ref.rel, "out" if position == 0 else "in"))
    return {label: tuple(dict.fromkeys(pairs)) for label, pairs in out.items()}


EXPANSIONS = _expansions()

VERBS: dict[RelType, str] = {
    RelType.WITHIN: "属于",
    RelType.UNDER: "隶属",
    RelType.BUILT_ON: "建在",
    RelType.LOCATED_IN: "位于",
    RelType.IN_BUILDING: "住在",
    RelType.WITH_UNIT: "结对单位",
    RelType.WITH_ORG: "结对党组织",
    RelType.LED_BY: "责任领导",
    RelType.FOR_PAIRING: "共建项目",
    RelType.OF_PERSON: "选派干部",
    RelType.SENT_BY: "派出单位",
    RelType.SENT_TO: "派驻",
    RelType.HOLDS_POST: "职务",
    RelType.EMPLOYED_BY: "任职单位",
    RelType.CONTACTS: "联系户",
    RelType.REPORTS_TO: "在职党员报到",
}
"""How a step reads in Chinese, from the relationship's start to its end."""


@dataclass(frozen=True)
class Step:
    """One relationship of a chain: ``rel`` from ``start`` to ``end``, with its
    properties (a link's post, since, until...; none for a reference)."""

    rel: RelType
    start: str
    end: str
    props: dict[str, Any] = field(default_factory=dict)

    def order(self) -> tuple[str, str, str, bytes]:
        return (
            self.rel.value,
            self.start,
            self.end,
            orjson.dumps(self.props, option=orjson.OPT_SORT_KEYS),
        )


@dataclass(frozen=True)
class LinkPath:
    """The answer: ``nodes`` from the first end to the other, ``steps[i]`` joining
    ``nodes[i]`` and ``nodes[i + 1]``; both empty when no chain was found."""

    from_id: str
    to_id: str
    as_of: date
    nodes: list[Node]
    steps: list[Step]
    max_hops: int
    max_frontier: int
    cut: bool
    """A bound on the frontier cut the search: a shorter chain, or one at all, may exist."""

    @property
    def found(self) -> bool:
        return bool(self.nodes)


class _Side:
    """One end's breadth-first search: the distance of each node it reached, and the
    nodes it reached last (its frontier)."""

    def __init__(self, node_id: str) -> None:
        self.distance = {node_id: 0}
        self.frontier = [node_id]
        self.hops = 0


def link_path(
    store: Store,
    from_id: str,
    to_id: str,
    day: date | None = None,
    max_hops: int = MAX_HOPS,
    max_frontier: int = MAX_FRONTIER,
) -> LinkPath:
    """The shortest chain joining the nodes ``from_id`` and ``to_id`` on ``day`` (default
    today) within ``max_hops`` steps: see the module's docstring."""
    as_of = day or date.today()
    today = as_of.isoformat()
    known = store.nodes([from_id, to_id])
    for node_id in (from_id, to_id):
        if node_id not in known:
            raise NotFound(f"no node has id {node_id!r}")
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from([from_id, to_id])
    sides = (_Side(from_id), _Side(to_id))
    cut = False
    met = from_id == to_id
    while not met and sides[0].hops + sides[1].hops < max_hops:
        # grow the smaller frontier: fewer reads for the same progress
        side, other = sorted(sides, key=lambda s: (len(s.frontier), s is sides[1]))
        if not side.frontier:
            break  # that end's component is exhausted: nothing links the two
        reached = _hop(store, side.frontier, known, today, graph)
        side.hops += 1
        fresh = sorted(reached - side.distance.keys())
        met = any(node_id in other.distance for node_id in fresh)
        if len(fresh) > max_frontier:
            fresh, cut = fresh[:max_frontier], True
        for node_id in fresh:
            side.distance[node_id] = side.hops
        side.frontier = fresh
    nodes, steps = _chain(graph, from_id, to_id, known) if met else ([], [])
    return LinkPath(from_id, to_id, as_of, nodes, steps, max_hops, max_frontier, cut)


def _hop(
    store: Store, frontier: list[str], known: dict[str, Node], today: str, graph: nx.Graph[str]
) -> set[str]:
    """Every node one active step from ``frontier``, its steps added to ``graph``."""
    candidates: list[Step] = []
    by_label: dict[Label, list[str]] = {}
    for node_id in frontier:
        node = known[node_id]
        by_label.setdefault(node.label, []).append(node_id)
        candidates += [Step(rel, node_id, end) for rel, end in sorted(node.refs.items())]
    asks: dict[tuple[RelType, Direction], list[str]] = {}
    for label, ids in by_label.items():
        for pair in EXPANSIONS[label]:
            asks.setdefault(pair, []).extend(ids)
    for (rel, direction), ids in asks.items():
        for node_id, found in store.neighbours(ids, rel, direction).items():
            for other, props in found:
                if direction == "out":
                    candidates.append(Step(rel, node_id, other, props))
                else:
                    candidates.append(Step(rel, other, node_id, props))
    missing = {end for step in candidates for end in (step.start, step.end)} - known.keys()
    known.update(store.nodes(missing))
    here = set(frontier)
    reached: set[str] = set()
    for step in candidates:
        if not _counts(step, known, today):
            continue
        near, far = (step.start, step.end) if step.start in here else (step.end, step.start)
        if not graph.has_edge(near, far):
            graph.add_edge(near, far, steps={})
        # found from both ends when both are in the frontier: kept once
        graph.edges[near, far]["steps"][step.order()] = step
        reached.add(far)
    return reached


def _counts(step: Step, known: dict[str, Node], today: str) -> bool:
    """Whether ``step`` is a hop on ``today``: a stored end at each side, the link
    active, and neither end a pairing or dispatch that is not."""
    if step.rel in DATED_RELS and not active(step.props, today):
        return False
    for end in (step.start, step.end):
        node = known.get(end)
        if node is None or (node.label in DATED_LABELS and not active(node.props, today)):
            return False
    return True


def _chain(
    graph: nx.Graph[str], from_id: str, to_id: str, known: dict[str, Node]
) -> tuple[list[Node], list[Step]]:
    """The lexicographically smallest shortest chain in ``graph``: walk from ``from_id``,
    each time to the smallest neighbour one step nearer ``to_id``."""
    distance = nx.single_source_shortest_path_length(graph, to_id)
    path = [from_id]
    while path[-1] != to_id:
        here = path[-1]
        path.append(min(n for n in graph.neighbors(here) if distance.get(n) == distance[here] - 1))
    steps = [min(graph.edges[a, b]["steps"].items())[1] for a, b in itertools.pairwise(path)]
    return [known[node_id] for node_id in path], steps


# -- naming the ends, and the answer as JSON ------------------------------------------------


def resolve_end(store: Store, ref: str, what: str) -> str:
    """The id of the node ``ref`` names: an id, or the exact name of exactly one node."""
    try:
        return resolve(store, ref, tuple(Label), what)
    except NotFound as exc:
        if "neither the id nor the name" not in str(exc):
            raise
        raise NotFound(
            f"{what}, {ref!r}, is neither the id nor the name of any node in this store;"
            " give an id or an exact name (the API's search finds both)"
        ) from None


def as_json(store: Store, found: LinkPath) -> dict[str, Any]:
    """The answer as JSON: the nodes by id, label, name and place (no other property:
    a person's personal fields never appear), and each step with its relationship."""
    named = describe(store, [n.id for n in found.nodes])
    return {
        "from": found.from_id,
        "to": found.to_id,
        "as_of": found.as_of.isoformat(),
        "found": found.found,
        "hops": len(found.steps) if found.found else None,
        "max_hops": found.max_hops,
        "cut": found.cut,
        "nodes": [
            {
                "id": node.id,
                "label": node.label.value,
                "name": named.get(node.id, (node.id, node.id))[0],
                "path": named.get(node.id, (node.id, node.id))[1],
            }
            for node in found.nodes
        ],
        "steps": [
            {
                "from": found.nodes[i].id,
                "to": found.nodes[i + 1].id,
                "rel": step.rel.value,
                "rel_zh": VERBS[step.rel],
                "forward": step.start == found.nodes[i].id,
                "props": step.props,
            }
            for i, step in enumerate(found.steps)
        ],
    }


def not_found_message(found: LinkPath) -> str:
    """What to say when no chain was found."""
    text = f"no link within {found.max_hops} steps as of {found.as_of.isoformat()}"
    if found.cut:
        text += (
            f" (the search was cut at {found.max_frontier:,} nodes a step; a link may lie beyond)"
        )
    return text
