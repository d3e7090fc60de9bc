"""Where things lie: the area a node belongs to (for ``--scope``), and the path that
names it in a report (``大连市/中山区/桃源街道/东山社区/第1网格``).

Both are defined once, here, as references to follow, and computed through the ``Store``
protocol, so the two stores agree by construction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

from grassroots.errors import NotFound
from grassroots.graph.store import MAX_DEPTH, Above, Store, chain
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

TRAIL_RELS: tuple[RelType, ...] = tuple(dict.fromkeys(TRAIL.values()))
"""The trail's references, as ``Store.ancestors`` takes them: no label holds two."""


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
    """The area and every area below it, level by level (one store read)."""
    return [row.id for row in store.descendants([area_id], RelType.WITHIN)]


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


def describe(
    store: Store, ids: Collection[str], found: Mapping[str, Above] | None = None
) -> dict[str, tuple[str, str]]:
    """``id -> (name, path)`` for each id: the path joins the names along its trail.

    Three store reads for any number of ids: every node on the ids' trails (unless the
    caller ``found`` them, as ``Store.ancestors`` along ``TRAIL_RELS`` would), then the
    pairings and dispatches among them, whose names come from their ends, then those
    ends' names."""
    if found is None:
        found = store.ancestors(ids, TRAIL_RELS)
    named = [i for i, up in found.items() if up.label in (Label.PAIRING, Label.DISPATCH)]
    ends = store.nodes(named)
    wanted = {end for node in ends.values() for end in node.refs.values()}
    names = {i: up.name or i for i, up in store.ancestors(wanted - set(found), ()).items()}
    names.update((i, up.name or i) for i, up in found.items())
    shown = {i: display_name(ends[i], names) if i in ends else names[i] for i in found}
    return {node_id: (shown[node_id], path) for node_id, path in _paths(found, shown, ids)}


def _paths(
    found: Mapping[str, Above], shown: Mapping[str, str], ids: Collection[str]
) -> Iterator[tuple[str, str]]:
    """Each stored id's path. A node's path is its parent's and its own name, kept once
    it is known, so a building's path is joined once for all its households; a chain
    that loops or is longer than ``MAX_DEPTH`` is read the long way, by ``chain``."""
    known: dict[str, tuple[str, int]] = {}  # node -> its path, how many names it joins
    for node_id in ids:
        if node_id not in found:
            continue
        climb: list[str] = []
        current: str | None = node_id
        while current is not None and current in found and current not in known:
            if current in climb or len(climb) > MAX_DEPTH:  # a cycle: no path of it is kept
                break
            climb.append(current)
            current = found[current].parent
        if current is None or current not in found:
            base: tuple[str, int] | None = ("", 0)
        else:
            base = known.get(current)
        for node in reversed(climb):
            if base is None or base[1] == MAX_DEPTH:
                base = None
                break
            name = shown[node]
            base = (f"{base[0]}/{name}" if base[1] else name, base[1] + 1)
            known[node] = base
        if base is None:
            trail = [shown[i] for i in chain(found, node_id)]
            yield node_id, "/".join(reversed(trail))
        else:
            yield node_id, known[node_id][0]
