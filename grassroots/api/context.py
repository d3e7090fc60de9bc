"""What every resolver gets: the store, this request's DataLoaders, and its grants.

DataLoaders are made per request, so a request batches its reads and never sees another
request's cache. Every store read of the API goes through ``Loaders``; the tests count
those reads to prove there is no N+1.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from grassroots.errors import GrassrootsError
from grassroots.graph.store import Direction, Neighbour, Store
from grassroots.schema import Node, RelType
from grassroots.settings import Settings


class Forbidden(GrassrootsError):
    pass


class Loaders:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.node: DataLoader[str, Node | None] = DataLoader(load_fn=self._nodes)
        self._neighbours: dict[tuple[RelType, Direction], DataLoader[str, list[Neighbour]]] = {}

    async def _nodes(self, ids: Sequence[str]) -> list[Node | None]:
        found = self.store.nodes(list(ids))
        return [found.get(i) for i in ids]

    async def _load_neighbours(
        self, rel: RelType, direction: Direction, ids: Sequence[str]
    ) -> list[list[Neighbour]]:
        found = self.store.neighbours(list(ids), rel, direction)
        return [found.get(i, []) for i in ids]

    def neighbours(self, rel: RelType, direction: Direction) -> DataLoader[str, list[Neighbour]]:
        key = (rel, direction)
        if key not in self._neighbours:
            self._neighbours[key] = DataLoader(
                load_fn=partial(self._load_neighbours, rel, direction)
            )
        return self._neighbours[key]

    async def nodes(self, ids: Sequence[str]) -> list[Node]:
        return [n for n in await self.node.load_many(list(ids)) if n is not None]


class Context(BaseContext):
    def __init__(self, store: Store, settings: Settings, grants: frozenset[str]) -> None:
        super().__init__()
        self.store = store
        self.settings = settings
        self.grants = grants
        self.loaders = Loaders(store)

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
