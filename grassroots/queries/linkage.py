"""Who is linked to whom: pairings, dispatches, the org chart, the responsible chain.

Each answer takes a bounded number of batched store reads (``nodes``, ``neighbours``,
``find``), never one per node, and reads the same way on both stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from grassroots.errors import NotFound
from grassroots.graph.store import Store
from grassroots.queries.filters import active
from grassroots.queries.places import areas_within
from grassroots.schema import Label, Node, OrgCategory, RelType

MAX_HEIGHT = 32


def _day(day: date | None) -> str:
    return (day or date.today()).isoformat()


def _require(store: Store, node_id: str, *labels: Label) -> Node:
    node = store.nodes([node_id]).get(node_id)
    if node is None or (labels and node.label not in labels):
        kinds = " or ".join(label.value for label in labels) or "node"
        raise NotFound(f"no {kinds} has id {node_id!r}")
    return node


def _sources(store: Store, ids: list[str], rel: RelType) -> set[str]:
    """The nodes pointing at any of ``ids`` along ``rel``."""
    return {other for found in store.neighbours(ids, rel, "in").values() for other, _ in found}


def pairings(
    store: Store,
    area_id: str | None = None,
    org_id: str | None = None,
    unit_id: str | None = None,
    day: date | None = None,
) -> list[Node]:
    """Pairings active on ``day``: of the party org built on ``area_id``, of ``org_id``,
    with ``unit_id``; the filters given all apply."""
    candidates: set[str] | None = None
    if area_id is not None:
        _require(store, area_id, Label.AREA)
        orgs = sorted(_sources(store, [area_id], RelType.BUILT_ON))
        candidates = _sources(store, orgs, RelType.WITH_ORG)
    if org_id is not None:
        _require(store, org_id, Label.PARTY_ORG)
        found = _sources(store, [org_id], RelType.WITH_ORG)
        candidates = found if candidates is None else candidates & found
    if unit_id is not None:
        _require(store, unit_id, Label.UNIT)
        found = _sources(store, [unit_id], RelType.WITH_UNIT)
        candidates = found if candidates is None else candidates & found
    return _active_nodes(store, Label.PAIRING, candidates, _day(day))


def dispatches(
    store: Store,
    area_id: str | None = None,
    unit_id: str | None = None,
    role: str | None = None,
    day: date | None = None,
    within: bool = False,
) -> list[Node]:
    """Dispatches active on ``day``: sent to ``area_id`` (or anywhere below it, with
    ``within``), sent by ``unit_id``, of ``role``."""
    candidates: set[str] | None = None
    if area_id is not None:
        _require(store, area_id, Label.AREA)
        targets = areas_within(store, area_id) if within else [area_id]
        candidates = _sources(store, targets, RelType.SENT_TO)
    if unit_id is not None:
        _require(store, unit_id, Label.UNIT)
        found = _sources(store, [unit_id], RelType.SENT_BY)
        candidates = found if candidates is None else candidates & found
    chosen = _active_nodes(store, Label.DISPATCH, candidates, _day(day))
    return [n for n in chosen if role is None or n.props.get("role") == role]


def _active_nodes(store: Store, label: Label, ids: set[str] | None, day: str) -> list[Node]:
    if ids is None:
        nodes: list[Node] = []
        after: str | None = None
        while True:
            page = store.find(label, after=after, limit=5000)
            nodes += page.nodes
            if len(page.nodes) < 5000:
                break
            after = page.nodes[-1].id
    else:
        found = store.nodes(ids)
        nodes = [found[i] for i in sorted(found) if found[i].label is label]
    return [n for n in nodes if active(n.props, day)]


@dataclass(frozen=True)
class ChartNode:
    org: Node
    parent_id: str | None
    depth: int
    child_count: int
    secretary: Node | None


def org_chart(
    store: Store, root_id: str, depth: int = 2, day: date | None = None
) -> list[ChartNode]:
    """The root and its descendants ``depth`` levels down, as a flat list; a node's
    ``child_count`` counts all its children, also those beyond ``depth``."""
    root = _require(store, root_id, Label.PARTY_ORG)
    today = _day(day)
    levels: list[list[str]] = [[root.id]]
    parent_of: dict[str, str | None] = {root.id: None}
    children: dict[str, list[str]] = {}
    for level in range(max(depth, 0) + 1):
        below = store.neighbours(levels[level], RelType.UNDER, "in")
        for org_id, found in below.items():
            children[org_id] = [other for other, _ in found]
        if level == depth:
            break
        nxt = [c for org_id in levels[level] for c in children[org_id] if c not in parent_of]
        for org_id in levels[level]:
            for child in children[org_id]:
                parent_of.setdefault(child, org_id)
        if not nxt:
            break
        levels.append(nxt)
    ids = [org_id for level in levels for org_id in level]
    orgs = store.nodes(ids)
    secretaries = _secretaries(store, ids, today)
    depth_of = {org_id: d for d, level in enumerate(levels) for org_id in level}
    return [
        ChartNode(orgs[i], parent_of[i], depth_of[i], len(children.get(i, [])), secretaries.get(i))
        for i in ids
    ]


def _secretaries(store: Store, org_ids: list[str], day: str) -> dict[str, Node]:
    """The serving secretary of each org (the latest appointed, if records overlap)."""
    chosen: dict[str, str] = {}
    for org_id, holders in store.neighbours(org_ids, RelType.HOLDS_POST, "in").items():
        serving = sorted(
            (
                (props.get("since") or "", person)
                for person, props in holders
                if props.get("post") == "secretary" and active(props, day)
            ),
            reverse=True,
        )
        if serving:
            chosen[org_id] = serving[0][1]
    people = store.nodes(set(chosen.values()))
    return {org: people[person] for org, person in chosen.items() if person in people}


def responsible_chain(store: Store, node_id: str) -> list[Node]:
    """The party orgs responsible for a household, an area or a party org, bottom-up."""
    node = _require(store, node_id, Label.HOUSEHOLD, Label.AREA, Label.PARTY_ORG)
    if node.label is Label.PARTY_ORG:
        start: Node | None = node
    else:
        area = node.refs.get(RelType.IN_BUILDING) if node.label is Label.HOUSEHOLD else node.id
        start = _org_on_lowest_area(store, area)
    chain: list[Node] = []
    seen: set[str] = set()
    while start is not None and start.id not in seen and len(chain) < MAX_HEIGHT:
        chain.append(start)
        seen.add(start.id)
        parent = start.refs.get(RelType.UNDER)
        start = store.nodes([parent]).get(parent) if parent else None
    return chain


def _org_on_lowest_area(store: Store, area_id: str | None) -> Node | None:
    """The org built on the lowest area at or above ``area_id`` that has one. Where several
    are built on one area, a territorial org wins, then the one the others answer to."""
    seen: set[str] = set()
    while area_id is not None and area_id not in seen and len(seen) < MAX_HEIGHT:
        seen.add(area_id)
        built = [o for o, _ in store.neighbours([area_id], RelType.BUILT_ON, "in")[area_id]]
        if built:
            orgs = store.nodes(built)
            territorial = [
                o
                for o in orgs.values()
                if o.props.get("category", OrgCategory.TERRITORIAL.value)
                == OrgCategory.TERRITORIAL.value
            ] or list(orgs.values())
            ids = {o.id for o in territorial}
            top = [o for o in territorial if o.refs.get(RelType.UNDER) not in ids]
            return sorted(top or territorial, key=lambda o: o.id)[0]
        area = store.nodes([area_id]).get(area_id)
        area_id = area.refs.get(RelType.WITHIN) if area else None
    return None
