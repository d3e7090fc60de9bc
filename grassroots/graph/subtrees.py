"""The part of the graph an account bound to area subtrees may see, and the reads that
see only that part (docs/access.md states the rule):

- **inside** are the roots' areas and every area below them; the party orgs built on an
  inside area, and every org under an inside org; the units located, the households
  housed and the dispatches sent to an inside area; the pairings of an inside org and
  the projects of an inside pairing;
- **at the boundary**, the far ends of an inside pairing (its unit and its responsible
  leader) and of an inside dispatch (the sending unit and the cadre) are visible too,
  because the link that lands inside is the caller's to see; a person is visible when
  one of their links (a post, an employment, a contact, a report) ends on an inside
  node, or they are such a far end;
- nothing else exists for the caller: a read leaves it out, as if it were not stored.
  A visible node's references to what is not visible are dropped, a walk up a tree
  stops at the boundary, and a walk down starts only from a visible node.

``reach`` works the part out in a fixed number of store reads; ``ScopedStore`` and
``ScopedReads`` answer the ``Store`` and ``AsyncReads`` reads through it, so that every
answer of the API (lookups, lists, search, org charts, chains, link paths) is cut by
the same rule in one place.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from grassroots.errors import GrassrootsError
from grassroots.graph.store import (
    Above,
    AsyncReads,
    Below,
    Changes,
    Direction,
    IdList,
    Neighbour,
    Page,
    Store,
    TreeEntry,
    chain,
)
from grassroots.progress import Progress, silent
from grassroots.schema import Label, Link, Node, RelType
from grassroots.schema.audit import Entry

T = TypeVar("T")


@dataclass(frozen=True)
class Subtrees:
    """What an account bound to ``roots`` may see, label by label (``reach``)."""

    roots: tuple[str, ...]
    ids: Mapping[Label, frozenset[str]]
    inside_units: frozenset[str]
    """The units located inside (the rest of ``ids[UNIT]`` are far ends)."""
    inside_people: frozenset[str]
    """The people with a post, report, employment or contact inside (the rest of
    ``ids[PERSON]`` are only far ends: a pairing's leader, a dispatched cadre)."""

    bound: tuple[str, ...] = ()
    """The areas the account is bound to, as it was given them."""

    _in_order: dict[Label, IdList] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """``ids[label]`` sorted, once per label: sorting 10^5 ids costs more than a search
    (``where`` hands the list to every ``find``; the stores only read it)."""

    def far_end(self, node_id: str) -> bool:
        """Whether ``node_id`` is seen only as the far end of a link that lands inside: a
        unit or a person of elsewhere, which an account may read but not write."""
        return (node_id in self.ids[Label.UNIT] and node_id not in self.inside_units) or (
            node_id in self.ids[Label.PERSON] and node_id not in self.inside_people
        )

    @property
    def visible(self) -> frozenset[str]:
        return frozenset().union(*self.ids.values())

    def sees(self, node_id: str | None, label: Label | None = None) -> bool:
        if node_id is None:
            return False
        if label is not None:
            return node_id in self.ids[label]
        return any(node_id in ids for ids in self.ids.values())

    def node(self, node: Node) -> Node | None:
        """``node`` as the caller sees it: None if outside, else without the references
        that lead out (a far-end unit's area, in another district)."""
        if node.id not in self.ids[node.label]:
            return None
        refs = {rel: end for rel, end in node.refs.items() if self.sees(end)}
        return node if len(refs) == len(node.refs) else Node(node.label, node.props, refs)

    def nodes(self, found: Mapping[str, Node]) -> dict[str, Node]:
        kept = ((i, self.node(n)) for i, n in found.items())
        return {i: n for i, n in kept if n is not None}

    def neighbours(self, found: Mapping[str, list[Neighbour]]) -> dict[str, list[Neighbour]]:
        return {
            i: [(other, props) for other, props in pairs if self.sees(other)]
            for i, pairs in found.items()
            if self.sees(i)
        }

    def where(self, label: Label, where: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """``where`` narrowed to the visible nodes of ``label`` (None: none can match)."""
        narrowed = dict(where or {})
        asked = narrowed.get("id")
        if asked is not None:
            asked = asked if isinstance(asked, list) else [asked]
            narrowed["id"] = sorted(self.ids[label] & {str(i) for i in asked})
        else:
            if label not in self._in_order:
                self._in_order[label] = IdList(self.ids[label])
            narrowed["id"] = self._in_order[label]
        return narrowed if narrowed["id"] else None

    def below(self, rows: Iterable[Below]) -> list[Below]:
        return [r for r in rows if self.sees(r.id) and (r.parent is None or self.sees(r.parent))]

    def above(self, found: Mapping[str, Above]) -> dict[str, Above]:
        return {
            i: up if up.parent is None or self.sees(up.parent) else up._replace(parent=None)
            for i, up in found.items()
            if self.sees(i)
        }

    def links(self, found: Mapping[tuple[RelType, str], Link]) -> dict[tuple[RelType, str], Link]:
        return {k: ln for k, ln in found.items() if self.sees(ln.start) and self.sees(ln.end)}

    def counts(self) -> dict[str, int]:
        return {label.value: len(ids) for label, ids in self.ids.items() if ids}


def _sources(store: Store, ids: Collection[str], rel: RelType) -> set[str]:
    found = store.neighbours(ids, rel, "in") if ids else {}
    return {other for pairs in found.values() for other, _ in pairs}


def _targets(store: Store, ids: Collection[str], rel: RelType) -> set[str]:
    found = store.neighbours(ids, rel, "out") if ids else {}
    return {other for pairs in found.values() for other, _ in pairs}


def reach(store: Store, roots: Sequence[str]) -> Subtrees:
    """The part of ``store`` below ``roots`` (area ids) and at its boundary: seventeen
    batched reads, however large the part. A root below another root, or no longer
    stored, is left out of ``Subtrees.roots`` (a report of both would count its part
    twice); ``Subtrees.bound`` keeps them as given."""
    asked = list(roots)
    above = store.ancestors(roots, (RelType.WITHIN,)) if roots else {}
    roots = [r for r in roots if r in above and not set(chain(above, r)[1:]) & set(roots)]
    areas = {row.id for row in store.descendants(roots, RelType.WITHIN)} if roots else set()
    built = _sources(store, areas, RelType.BUILT_ON)
    orgs = {row.id for row in store.descendants(built, RelType.UNDER)} if built else set()
    units = _sources(store, areas, RelType.LOCATED_IN)
    households = _sources(store, areas, RelType.IN_BUILDING)
    dispatches = _sources(store, areas, RelType.SENT_TO)
    pairings = _sources(store, orgs, RelType.WITH_ORG)
    projects = _sources(store, pairings, RelType.FOR_PAIRING)
    far_units = _targets(store, pairings, RelType.WITH_UNIT) | _targets(
        store, dispatches, RelType.SENT_BY
    )
    inside_people = (
        _sources(store, orgs, RelType.HOLDS_POST)
        | _sources(store, orgs, RelType.REPORTS_TO)
        | _sources(store, units, RelType.EMPLOYED_BY)
        | _sources(store, households, RelType.CONTACTS)
    )
    people = (
        inside_people
        | _targets(store, pairings, RelType.LED_BY)
        | _targets(store, dispatches, RelType.OF_PERSON)
    )
    ids = {
        Label.AREA: areas,
        Label.PARTY_ORG: orgs,
        Label.UNIT: units | far_units,
        Label.PERSON: people,
        Label.HOUSEHOLD: households,
        Label.PAIRING: pairings,
        Label.PROJECT: projects,
        Label.DISPATCH: dispatches,
    }
    return Subtrees(
        tuple(roots),
        {label: frozenset(found) for label, found in ids.items()},
        frozenset(units),
        frozenset(inside_people),
        tuple(asked),
    )


class OutsideScope(GrassrootsError):
    pass


class ScopedStore:
    """The reads of ``store`` that ``subtrees`` may see: what sync work (a report's name
    lookups, a link path) reads through, for a caller bound to subtrees. It writes
    nothing: a write goes through the importer's check of the caller's subtrees."""

    def __init__(self, store: Store, subtrees: Subtrees) -> None:
        self.inner = store
        self.subtrees = subtrees
        self.name = store.name

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        wanted = [i for i in ids if self.subtrees.sees(i, label)]
        return self.subtrees.nodes(self.inner.nodes(wanted, label) if wanted else {})

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        return self.subtrees.links(self.inner.links(keys))

    def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        wanted = [i for i in ids if self.subtrees.sees(i)]
        found = self.inner.neighbours(wanted, rel, direction, where) if wanted else {}
        return self.subtrees.neighbours(found)

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        narrowed = self.subtrees.where(label, where)
        if narrowed is None:
            return Page([], 0)
        page = self.inner.find(label, narrowed, search, after, limit)
        return Page(list(self.subtrees.nodes({n.id: n for n in page.nodes}).values()), page.total)

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        sees = self.subtrees.sees
        return {
            i: entry if sees(entry.parent) else TreeEntry(None, entry.kind)
            for i, entry in self.inner.tree(label).items()
            if sees(i, label)
        }

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        wanted = [i for i in ids if self.subtrees.sees(i)]
        return self.subtrees.below(self.inner.descendants(wanted, rel, depth) if wanted else [])

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        wanted = [i for i in ids if self.subtrees.sees(i)]
        return self.subtrees.above(self.inner.ancestors(wanted, rels) if wanted else {})

    def elements(self) -> Iterator[Node | Link]:
        for element in self.inner.elements():
            if isinstance(element, Node):
                if (seen := self.subtrees.node(element)) is not None:
                    yield seen
            elif self.subtrees.sees(element.start) and self.subtrees.sees(element.end):
                yield element

    def counts(self) -> dict[str, int]:
        return self.subtrees.counts()

    def generation(self) -> object:
        return self.inner.generation()

    def snapshot(self) -> Store:
        return ScopedStore(self.inner.snapshot(), self.subtrees)

    # -- no writes, no records: those are not a scoped reader's -------------------------

    def _refused(self, what: str) -> OutsideScope:
        return OutsideScope(f"{what} is not done through an account's scoped reads")

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        raise self._refused("a write")

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        raise self._refused("reading accounts")

    def put_record(
        self, kind: str, key: str, doc: dict[str, Any], entry: Entry | None = None
    ) -> None:
        raise self._refused("writing accounts")

    def audit_log(self, since: datetime | None = None, actor: str | None = None) -> list[Entry]:
        raise self._refused("reading the audit log")

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        raise self._refused("holding the store")

    def reset(self, entry: Entry | None = None) -> None:
        raise self._refused("a reset")

    def close(self) -> None:
        pass


class SubtreesCache:
    """What each set of roots sees, worked out once per state of the graph (a store's
    ``generation``) and kept for the next requests: ``reach`` costs fifteen reads, a
    lookup two or three. Bounded: the least recently used part goes first."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._found: OrderedDict[tuple[str, ...], tuple[object, Subtrees]] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, roots: tuple[str, ...], generation: object) -> Subtrees | None:
        with self._guard:
            found = self._found.get(roots)
            if found is None or found[0] != generation:
                return None
            self._found.move_to_end(roots)
            return found[1]

    def put(self, roots: tuple[str, ...], generation: object, subtrees: Subtrees) -> None:
        with self._guard:
            self._found[roots] = (generation, subtrees)
            self._found.move_to_end(roots)
            while len(self._found) > self.size:
                self._found.popitem(last=False)


class ScopedReads:
    """``AsyncReads`` that see only what an account bound to ``roots`` may see: the
    part is worked out once, on first use (``reach``, off the event loop) unless
    ``cache`` holds it for this ``generation`` of the store (read before the request's
    snapshot was taken), then every read is asked only of visible ids and its answer
    cut to the visible part."""

    def __init__(
        self,
        reads: AsyncReads,
        roots: Sequence[str],
        generation: object = None,
        cache: SubtreesCache | None = None,
    ) -> None:
        self.inner = reads
        self.roots = tuple(roots)
        self.generation = generation
        self.cache = cache if generation is not None else None
        self._found: Subtrees | None = None
        self._lock = asyncio.Lock()

    async def subtrees(self) -> Subtrees:
        async with self._lock:
            if self._found is None and self.cache is not None:
                self._found = self.cache.get(self.roots, self.generation)
            if self._found is None:
                roots = self.roots
                self._found = await self.inner.call(lambda store: reach(store, roots))
                if self.cache is not None:
                    self.cache.put(self.roots, self.generation, self._found)
            return self._found

    async def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        seen = await self.subtrees()
        wanted = [i for i in ids if seen.sees(i, label)]
        return seen.nodes(await self.inner.nodes(wanted, label) if wanted else {})

    async def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        seen = await self.subtrees()
        wanted = [i for i in ids if seen.sees(i)]
        found = await self.inner.neighbours(wanted, rel, direction, where) if wanted else {}
        return seen.neighbours(found)

    async def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        seen = await self.subtrees()
        narrowed = seen.where(label, where)
        if narrowed is None:
            return Page([], 0)
        page = await self.inner.find(label, narrowed, search, after, limit)
        return Page(list(seen.nodes({n.id: n for n in page.nodes}).values()), page.total)

    async def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        seen = await self.subtrees()
        wanted = [i for i in ids if seen.sees(i)]
        return seen.below(await self.inner.descendants(wanted, rel, depth) if wanted else [])

    async def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        seen = await self.subtrees()
        wanted = [i for i in ids if seen.sees(i)]
        return seen.above(await self.inner.ancestors(wanted, rels) if wanted else {})

    async def counts(self) -> dict[str, int]:
        return (await self.subtrees()).counts()

    async def call(self, work: Callable[[Store], T]) -> T:
        seen = await self.subtrees()
        return await self.inner.call(lambda store: work(ScopedStore(store, seen)))
