"""Who is linked to whom: pairings, dispatches, the org chart, the responsible chain.

Each answer takes a bounded number of batched store reads (``nodes``, ``neighbours``,
``find``, and ``descendants`` and ``ancestors`` for the trees, one query each whatever
the depth), never one per node or per level, and reads the same way on every store.
They read through ``AsyncReads``: the API passes its request's DataLoaders
(``grassroots.api.context.Loaders``), so that the same answer asked for each node of a
page (a responsible chain per org) is read in one batch for the whole page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from grassroots.errors import NotFound
from grassroots.graph.filters import active
from grassroots.graph.store import AsyncReads, chain
from grassroots.schema import Label, Node, OrgCategory, PostKind, RelType


def _day(day: date | None) -> str:
    return (day or date.today()).isoformat()


async def _require(store: AsyncReads, node_id: str, *labels: Label) -> Node:
    only = labels[0] if len(labels) == 1 else None  # one table to read, not every one
    node = (await store.nodes([node_id], only)).get(node_id)
    if node is None or (labels and node.label not in labels):
        kinds = " or ".join(label.value for label in labels) or "node"
        raise NotFound(f"no {kinds} has id {node_id!r}")
    return node


async def _sources(store: AsyncReads, ids: list[str], rel: RelType) -> set[str]:
    """The nodes pointing at any of ``ids`` along ``rel``."""
    found = await store.neighbours(ids, rel, "in")
    return {other for pairs in found.values() for other, _ in pairs}


async def pairings(
    store: AsyncReads,
    area_id: str | None = None,
    org_id: str | None = None,
    unit_id: str | None = None,
    day: date | None = None,
) -> list[Node]:
    """Pairings active on ``day``: of the party org built on ``area_id``, of ``org_id``,
    with ``unit_id``; the filters given all apply."""
    candidates: set[str] | None = None
    if area_id is not None:
        await _require(store, area_id, Label.AREA)
        orgs = sorted(await _sources(store, [area_id], RelType.BUILT_ON))
        candidates = await _sources(store, orgs, RelType.WITH_ORG)
    if org_id is not None:
        await _require(store, org_id, Label.PARTY_ORG)
        found = await _sources(store, [org_id], RelType.WITH_ORG)
        candidates = found if candidates is None else candidates & found
    if unit_id is not None:
        await _require(store, unit_id, Label.UNIT)
        found = await _sources(store, [unit_id], RelType.WITH_UNIT)
        candidates = found if candidates is None else candidates & found
    return await _active_nodes(store, Label.PAIRING, candidates, _day(day))


async def dispatches(
    store: AsyncReads,
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
        await _require(store, area_id, Label.AREA)
        targets = [area_id]
        if within:  # the area and every area below it (places.areas_within)
            targets = [row.id for row in await store.descendants([area_id], RelType.WITHIN)]
        candidates = await _sources(store, targets, RelType.SENT_TO)
    if unit_id is not None:
        await _require(store, unit_id, Label.UNIT)
        found = await _sources(store, [unit_id], RelType.SENT_BY)
        candidates = found if candidates is None else candidates & found
    chosen = await _active_nodes(store, Label.DISPATCH, candidates, _day(day))
    return [n for n in chosen if role is None or n.props.get("role") == role]


async def _active_nodes(
    store: AsyncReads, label: Label, ids: set[str] | None, day: str
) -> list[Node]:
    if ids is None:
        nodes: list[Node] = []
        after: str | None = None
        while True:
            page = await store.find(label, after=after, limit=5000)
            nodes += page.nodes
            if len(page.nodes) < 5000:
                break
            after = page.nodes[-1].id
    else:
        found = await store.nodes(ids, label)
        nodes = [found[i] for i in sorted(found)]
    return [n for n in nodes if active(n.props, day)]


@dataclass(frozen=True)
class ChartNode:
    org: Node
    parent_id: str | None
    depth: int
    child_count: int
    secretary: Node | None


async def org_chart(
    store: AsyncReads, root_id: str, depth: int = 2, day: date | None = None
) -> list[ChartNode]:
    """The root and its descendants ``depth`` levels down, as a flat list; a node's
    ``child_count`` counts all its children, also those beyond ``depth``. Four store
    reads whatever the depth: the root, the levels, their nodes, their secretaries
    (and theirs)."""
    root = await _require(store, root_id, Label.PARTY_ORG)
    rows = await store.descendants([root.id], RelType.UNDER, max(depth, 0))
    ids = [row.id for row in rows]
    orgs = await store.nodes(ids, Label.PARTY_ORG)
    secretaries = await _secretaries(store, ids, _day(day))
    return [
        ChartNode(orgs[r.id], r.parent, r.depth, r.children, secretaries.get(r.id))
        for r in rows
        if r.id in orgs
    ]


SECRETARY = {"post": [PostKind.SECRETARY.value]}
"""The posts an org chart reads: its secretaries' (a city's orgs hold 10k posts)."""


async def _secretaries(store: AsyncReads, org_ids: list[str], day: str) -> dict[str, Node]:
    """The serving secretary of each org (the latest appointed, if records overlap)."""
    chosen: dict[str, str] = {}
    posts = await store.neighbours(org_ids, RelType.HOLDS_POST, "in", SECRETARY)
    for org_id, holders in posts.items():
        serving = sorted(
            ((props.get("since") or "", person) for person, props in holders if active(props, day)),
            reverse=True,
        )
        if serving:
            chosen[org_id] = serving[0][1]
    people = await store.nodes(set(chosen.values()), Label.PERSON)
    return {org: people[person] for org, person in chosen.items() if person in people}


async def responsible_chain(store: AsyncReads, node_id: str) -> list[Node]:
    """The party orgs responsible for a household, an area or a party org, bottom-up."""
    node = await _require(store, node_id, Label.HOUSEHOLD, Label.AREA, Label.PARTY_ORG)
    if node.label is Label.PARTY_ORG:
        start: str | None = node.id
    else:
        area = node.refs.get(RelType.IN_BUILDING) if node.label is Label.HOUSEHOLD else node.id
        start = await _org_on_lowest_area(store, area)
    if start is None:
        return []
    ids = chain(await store.ancestors([start], (RelType.UNDER,)), start)
    orgs = await store.nodes(ids, Label.PARTY_ORG)
    return [orgs[i] for i in ids if i in orgs]


async def _org_on_lowest_area(store: AsyncReads, area_id: str | None) -> str | None:
    """The org built on the lowest area at or above ``area_id`` that has one. Where several
    are built on one area, a territorial org wins, then the one the others answer to."""
    if area_id is None:
        return None
    areas = chain(await store.ancestors([area_id], (RelType.WITHIN,)), area_id)
    built = await store.neighbours(areas, RelType.BUILT_ON, "in")
    orgs = await store.nodes({o for found in built.values() for o, _ in found}, Label.PARTY_ORG)
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
