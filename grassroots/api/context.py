"""What every resolver gets: the store, this request's DataLoaders, and its grants.

DataLoaders are made per request, so a request batches its reads and never sees another
request's cache. Every store read of the API goes through ``Loaders``, which awaits the
store's ``AsyncReads`` (never a sync read on the event loop): the fields of a list of N
items that read the store cost one batched read per kind of read, not N, and the tests
count those reads to prove there is no N+1 (tests/test_round_trips.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import Any, TypeVar

import orjson
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from grassroots.errors import GrassrootsError
from grassroots.graph.store import (
    Above,
    AsyncReads,
    Below,
    Direction,
    Neighbour,
    Page,
    Store,
    chain,
)
from grassroots.graph.subtrees import ScopedReads, Subtrees, SubtreesCache
from grassroots.schema import Label, Node, RelType
from grassroots.schema.audit import Actor
from grassroots.settings import Settings

T = TypeVar("T")
Where = str  # a ``where`` filter as sorted JSON: a loader's key must be hashable

FindKey = tuple[Label, Where, str | None, str | None, int]


class Forbidden(GrassrootsError):
    pass


def _where(where: dict[str, Any] | None) -> Where:
    return orjson.dumps(where or {}, option=orjson.OPT_SORT_KEYS).decode()


class Loaders:
    """This request's reads, batched: ``AsyncReads`` itself, so that the queries
    (``grassroots.queries.linkage``) read through it as through any store's.

    ``nodes``, ``neighbours`` and ``ancestors`` gather every call made while the
    resolvers of one level of the answer run into one read of the store (the
    DataLoader's batch), and remember the answers for the rest of the request;
    ``descendants`` and ``find``, whose answers do not split by id, are remembered."""

    def __init__(self, reads: AsyncReads) -> None:
        self.reads = reads
        self.node: DataLoader[str, Node | None] = DataLoader(load_fn=self._load_nodes)
        self._labelled: dict[tuple[Label], DataLoader[str, Node | None]] = {}
        self._neighbours: dict[tuple[RelType, Direction, Where], DataLoader[str, list[Neighbour]]]
        self._neighbours = {}
        self._ancestors: dict[tuple[tuple[RelType, ...]], DataLoader[str, dict[str, Above]]] = {}
        self._below: DataLoader[tuple[str, RelType, int | None], list[Below]] = DataLoader(
            load_fn=self._load_below
        )
        self._found: DataLoader[FindKey, Page] = DataLoader(load_fn=self._load_found)

    async def _load_nodes(self, ids: Sequence[str]) -> list[Node | None]:
        found = await self.reads.nodes(list(ids))
        return [found.get(i) for i in ids]

    async def _load_labelled(self, label: Label, ids: Sequence[str]) -> list[Node | None]:
        found = await self.reads.nodes(list(ids), label)
        for node in found.values():
            self.node.prime(node.id, node)
        return [found.get(i) for i in ids]

    async def _load_neighbours(
        self, rel: RelType, direction: Direction, where: Where, ids: Sequence[str]
    ) -> list[list[Neighbour]]:
        found = await self.reads.neighbours(list(ids), rel, direction, orjson.loads(where) or None)
        return [found.get(i, []) for i in ids]

    async def _load_ancestors(
        self, rels: tuple[RelType, ...], ids: Sequence[str]
    ) -> list[dict[str, Above]]:
        found = await self.reads.ancestors(list(ids), rels)
        return [{up: found[up] for up in chain(found, i)} for i in ids]

    async def _load_below(
        self, keys: Sequence[tuple[str, RelType, int | None]]
    ) -> list[list[Below]]:
        return list(
            await asyncio.gather(
                *(self.reads.descendants([i], rel, depth) for i, rel, depth in keys)
            )
        )

    async def _load_found(self, keys: Sequence[FindKey]) -> list[Page]:
        pages = await asyncio.gather(
            *(
                self.reads.find(label, orjson.loads(where) or None, search, after, limit)
                for label, where, search, after, limit in keys
            )
        )
        for page in pages:  # a page's nodes are read: their fields need not read them again
            for node in page.nodes:
                self.node.prime(node.id, node)
        return list(pages)

    @staticmethod
    def _keyed(
        loaders: dict[Any, DataLoader[str, T]], key: Any, load: Callable[..., Any]
    ) -> DataLoader[str, T]:
        if key not in loaders:
            loaders[key] = DataLoader(load_fn=partial(load, *key))
        return loaders[key]

    def neighbours_of(
        self, rel: RelType, direction: Direction, where: dict[str, Any] | None = None
    ) -> DataLoader[str, list[Neighbour]]:
        return self._keyed(self._neighbours, (rel, direction, _where(where)), self._load_neighbours)

    def node_of(self, label: Label | None) -> DataLoader[str, Node | None]:
        """The nodes of ``label`` (any label: None): a field that knows what it points at
        reads that one table on the embedded store, where a read of ids alone looks in
        every table (a city's 756k households for a unit's hundred dispatched cadres)."""
        if label is None:
            return self.node
        return self._keyed(self._labelled, (label,), self._load_labelled)

    # -- AsyncReads, batched -------------------------------------------------------------

    async def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        found = await self.node_of(label).load_many(list(dict.fromkeys(ids)))
        return {n.id: n for n in found if n is not None and label in (None, n.label)}

    async def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        wanted = list(dict.fromkeys(ids))
        found = await self.neighbours_of(rel, direction, where).load_many(wanted)
        return dict(zip(wanted, found, strict=True))

    async def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        return await self._found.load((label, _where(where), search, after, limit))

    async def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        if len(ids) == 1:
            return await self._below.load((next(iter(ids)), rel, depth))
        return await self.reads.descendants(ids, rel, depth)

    async def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        loader = self._keyed(self._ancestors, (tuple(rels),), self._load_ancestors)
        found: dict[str, Above] = {}
        for part in await loader.load_many(list(dict.fromkeys(ids))):
            found.update(part)
        return found

    async def counts(self) -> dict[str, int]:
        return await self.reads.counts()

    async def call(self, work: Callable[[Store], T]) -> T:
        return await self.reads.call(work)

    async def node_list(self, ids: Sequence[str]) -> list[Node]:
        """The stored nodes among ``ids``, in their order."""
        return [n for n in await self.node.load_many(list(ids)) if n is not None]


class Context(BaseContext):
    """``areas``: the subtrees the caller's account is bound to (none: the whole graph);
    ``cache`` keeps what they see across requests, for the store's ``generation``.
    Every read of the API goes through ``loaders``, which then see only those subtrees
    (``grassroots.graph.subtrees``); ``whole`` reads past them, for the one answer that
    narrows itself (a coverage report, run on the store's own compiled queries inside a
    scope that ``report_scope`` keeps inside the caller's)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        grants: frozenset[str],
        reads: AsyncReads,
        areas: Sequence[str] = (),
        actor: Actor | None = None,
        generation: object = None,
        cache: SubtreesCache | None = None,
    ) -> None:
        super().__init__()
        self.actor = actor or Actor(name="anonymous", via="api")  # who writes, for the log
        self.store = store  # this request's snapshot: the mutations write through it
        self.settings = settings
        self.grants = grants
        self.areas = tuple(areas)
        self.whole = reads
        self.scoped = ScopedReads(reads, areas, generation, cache) if areas else None
        self.loaders = Loaders(self.scoped or reads)

    async def subtrees(self) -> Subtrees | None:
        """What the caller may see, or None for an account of the whole graph."""
        return await self.scoped.subtrees() if self.scoped else None

    def require(self, grant: str) -> None:
        if grant not in self.grants:
            raise Forbidden(
                f"this needs a token with the {grant!r} grant: send Authorization: Bearer <token>"
            )

    def page_size(self, first: int | None, default: int = 100) -> int:
        limit = self.settings.api_max_page
        if first is None:
            return min(default, limit)
        if first < 0 or first > limit:
            raise GrassrootsError(f"first must be between 0 and {limit}")
        return first
