"""Where things lie: the area a node belongs to (for ``--scope``), and the path that
names it in a report (``大连市/中山区/桃源街道/东山社区/第1网格``).

Both are defined once, here, as references to follow, and computed through the ``Store``
protocol, so the two stores agree by construction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from grassroots.errors import NotFound
from grassroots.graph.store import Store
from grassroots.schema import Label, Node, RelType

ANCHOR: dict[Label, tuple[RelType, ...]] = {
    Label.AREA: (),
    Label.HOUSEHOLD: (RelType.IN_BUILDING,),
    Label.PARTY_ORG: (RelType.BUILT_ON,),
    Label.PAIRING: (RelType.WITH_ORG, RelType.BUILT_ON),
    Label.PROJECT: (RelType.FOR_PAIRING, RelType.WITH_ORG, RelType.BUILT_ON),
    Label.DISPATCH: (RelType.SENT_TO,),
    Label.UNIT: (RelType.LOCATED_IN,),
}
"""The references that lead from a node to the area it lies in (CONTRACT.md section 3:
a household lies where its building does; a party org, or a pairing, where the area
its party org is built on does)."""

TRAIL: dict[Label, RelType] = {
    Label.AREA: RelType.WITHIN,
    Label.PARTY_ORG: RelType.UNDER,
    Label.HOUSEHOLD: RelType.IN_BUILDING,
    Label.PAIRING: RelType.WITH_ORG,
    Label.PROJECT: RelType.FOR_PAIRING,
    Label.DISPATCH: RelType.SENT_TO,
    Label.UNIT: RelType.LOCATED_IN,
}
"""The reference followed, step by step, to name where a node is: areas up their tree,
party orgs up theirs, everything else through the node it hangs from."""

MAX_DEPTH = 32


def _a(word: str) -> str:
    return "an" if word[:1] in "AEIOU" else "a"


def resolve(store: Store, ref: str, labels: Sequence[Label], what: str = "id") -> str:
    """The id of the node ``ref`` names among ``labels``: its id, or else its exact name.

    A planner types ``中山区`` as readily as ``D02``; an id always wins over a name, and a
    name that several nodes share is an error listing them, so no answer is a guess.
    """
    node = store.nodes([ref]).get(ref)
    if node is not None and node.label in labels:
        return ref
    named: list[Node] = []
    for label in labels:
        after: str | None = None
        while True:
            page = store.find(label, search=ref, after=after, limit=500)
            named += [n for n in page.nodes if str(n.props.get("name", "")) == ref]
            if len(page.nodes) < 500:
                break
            after = page.nodes[-1].id
    kinds = " or ".join(label.value for label in labels)
    if len(named) == 1:
        return named[0].id
    if named:
        paths = describe(store, [n.id for n in named])
        listed = "; ".join(f"{n.id} ({paths.get(n.id, (ref, ref))[1]})" for n in named[:10])
        more = f" and {len(named) - 10} more" if len(named) > 10 else ""
        raise NotFound(
            f"{what} {ref!r} is the name of {len(named)} nodes: {listed}{more}; give the id"
        )
    if node is not None:
        found = node.label.value
        raise NotFound(f"{what} {ref!r} is {_a(found)} {found}, not {_a(kinds)} {kinds}")
    raise NotFound(f"{what} {ref!r} is neither the id nor the name of any {kinds}")


def scope_area(store: Store, scope: str) -> str:
    """The area a scope id (or unique name) stands for: the area itself, or the area a
    party org is built on."""
    scope = resolve(store, scope, (Label.AREA, Label.PARTY_ORG), "scope")
    node = store.nodes([scope]).get(scope)
    if node is None:
        raise NotFound(f"scope {scope!r} names no area or party org")
    if node.label is Label.AREA:
        return scope
    if node.label is Label.PARTY_ORG:
        area = node.refs.get(RelType.BUILT_ON)
        if area is None:
            raise NotFound(f"party org {scope!r} is built on no area, so it cannot be a scope")
        return area
    raise NotFound(f"scope {scope!r} is a {node.label.value}, not an area or party org")


def areas_within(store: Store, area_id: str) -> list[str]:
    """The area and every area below it, level by level: one batched read per level."""
    found, frontier = [area_id], [area_id]
    seen = {area_id}
    for _ in range(MAX_DEPTH):
        below = store.neighbours(frontier, RelType.WITHIN, "in")
        frontier = sorted({c for children in below.values() for c, _ in children} - seen)
        if not frontier:
            break
        seen.update(frontier)
        found += frontier
    return found


def display_name(node: Node, names: dict[str, str]) -> str:
    """A node's name; pairings and dispatches, which have none, are named by their ends."""
    props = node.props
    if node.label is Label.PAIRING:
        unit = names.get(node.refs.get(RelType.WITH_UNIT, ""), "?")
        org = names.get(node.refs.get(RelType.WITH_ORG, ""), "?")
        return f"{unit}—{org}"
    if node.label is Label.DISPATCH:
        person = names.get(node.refs.get(RelType.OF_PERSON, ""), "?")
        return f"{person}({props.get('role', '')})"
    return str(props.get("name") or props["id"])


def describe(store: Store, ids: Collection[str]) -> dict[str, tuple[str, str]]:
    """``id -> (name, path)`` for each id: the path joins the names along its trail."""
    known: dict[str, Node] = {}
    wanted = set(ids)
    for _ in range(MAX_DEPTH):
        missing = wanted - set(known)
        if not missing:
            break
        found = store.nodes(missing)
        known.update(found)
        wanted = set()
        for node in found.values():
            if node.label in (Label.PAIRING, Label.DISPATCH):
                wanted.update(node.refs.values())  # their names come from their ends
            elif node.label in TRAIL:
                up = node.refs.get(TRAIL[node.label])
                if up is not None:
                    wanted.add(up)
    names = {node_id: str(n.props.get("name") or node_id) for node_id, n in known.items()}
    out: dict[str, tuple[str, str]] = {}
    for node_id in ids:
        if node_id not in known:
            continue
        trail: list[str] = []
        seen: set[str] = set()
        current: str | None = node_id
        while current and current in known and current not in seen and len(trail) < MAX_DEPTH:
            seen.add(current)
            node = known[current]
            trail.append(display_name(node, names))
            rel = TRAIL.get(node.label)
            current = node.refs.get(rel) if rel else None
        out[node_id] = (trail[0], "/".join(reversed(trail)))
    return out
