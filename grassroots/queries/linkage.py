"""Who is linked to whom: pairings, dispatches, the org chart, the responsible chain.

Each answer takes a bounded number of batched store reads (``nodes``, ``neighbours``,
``find``, and ``descendants`` and ``ancestors`` for the trees, one query each whatever
the depth), never one per node or per level, and reads the same way on every store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from grassroots.errors import NotFound
from grassroots.graph.store import Store, chain
from grassroots.queries.filters import active
from grassroots.queries.places import areas_within
from grassroots.schema import Label, Node, OrgCategory, PostKind, RelType


def _day(day: date | None) -> str:
    return (day or date.today()).isoformat()


def _require(store: Store, node_id: str, *labels: Label) -> Node:
    only = labels[0] if len(labels) == 1 else None  # one table to read, not every one
    node = store.nodes([node_id], only).get(node_id)
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
        found = store.nodes(ids, label)
        nodes = [found[i] for i in sorted(found)]
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
    ``child_count`` counts all its children, also those beyond ``depth``. Four store
    reads whatever the depth: the root, the levels, their nodes, their secretaries
    (and theirs)."""
    root = _require(store, root_id, Label.PARTY_ORG)
    rows = store.descendants([root.id], RelType.UNDER, max(depth, 0))
    ids = [row.id for row in rows]
    orgs = store.nodes(ids, Label.PARTY_ORG)
    secretaries = _secretaries(store, ids, _day(day))
    return [
        ChartNode(orgs[r.id], r.parent, r.depth, r.children, secretaries.get(r.id))
        for r in rows
        if r.id in orgs
    ]


SECRETARY = {"post": [PostKind.SECRETARY.value]}
"""The posts an org chart reads: its secretaries' (a city's orgs hold 10k posts)."""


def _secretaries(store: Store, org_ids: list[str], day: str) -> dict[str, Node]:
    """The serving secretary of each org (the latest appointed, if records overlap)."""
    chosen: dict[str, str] = {}
    posts = store.neighbours(org_ids, RelType.HOLDS_POST, "in", SECRETARY)
    for org_id, holders in posts.items():
        serving = sorted(
            ((props.get("since") or "", person) for person, props in holders if active(props, day)),
            reverse=True,
        )
        if serving:
            chosen[org_id] = serving[0][1]
    people = store.nodes(set(chosen.values()), Label.PERSON)
    return {org: people[person] for org, person in chosen.items() if person in people}


def responsible_chain(store: Store, node_id: str) -> list[Node]:
    """The party orgs responsible for a household, an area or a party org, bottom-up."""
    node = _require(store, node_id, Label.HOUSEHOLD, Label.AREA, Label.PARTY_ORG)
    if node.label is Label.PARTY_ORG:
        start: str | None = node.id
    else:
        area = node.refs.get(RelType.IN_BUILDING) if node.label is Label.HOUSEHOLD else node.id
        start = _org_on_lowest_area(store, area)
    if start is None:
        return []
    ids = chain(store.ancestors([start], (RelType.UNDER,)), start)
    orgs = store.nodes(ids, Label.PARTY_ORG)
    return [orgs[i] for i in ids if i in orgs]


def _org_on_lowest_area(store: Store, area_id: str | None) -> str | None:
    """The org built on the lowest area at or above ``area_id`` that has one. Where several
    are built on one area, a territorial org wins, then the one the others answer to."""
    if area_id is None:
        return None
    areas = chain(store.ancestors([area_id], (RelType.WITHIN,)), area_id)
    built = store.neighbours(areas, RelType.BUILT_ON, "in")
    orgs = store.nodes({o for found in built.values() for o, _ in found}, Label.PARTY_ORG)
    for area in areas:
        here = [orgs[o] for o, _ in built[area] if o in orgs]
        if not here:
            continue
        territorial = [
            o
            for o in here
            if o.props.get("category", OrgCategory.TERRITORIAL.value)
            == OrgCategory.TERRITORIAL.value
        ] or here
        ids = {o.id for o in territorial}
        top = [o for o in territorial if o.refs.get(RelType.UNDER) not in ids]
        return sorted(top or territorial, key=lambda o: o.id)[0].id
    return None
