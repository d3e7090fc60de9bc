"""Store reads, counted: the real store passed through, no stand-in (NetBox's
``utilities/testing/query_counts.py`` is the model). ``Counting`` counts a store's sync
protocol reads; ``CountingReads`` counts the awaited reads (``AsyncReads``) the API makes,
on either store, over its own async path (the Neo4j one runs the ``AsyncDriver``)."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, cast

from grassroots.graph.store import AsyncReads, Store, ThreadedReads, async_reads

READS = ("nodes", "links", "neighbours", "find", "tree", "descendants", "ancestors", "counts")


class _Counted:
    """Passes every attribute of ``inner`` through, counting calls of the reads."""

    def __init__(self, inner: Any, calls: Counter[str] | None = None) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter() if calls is None else calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in READS:
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


class Counting(_Counted):
    """The real store, passed through, counting each protocol read a query makes."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.pool = ThreadPoolExecutor(2)

    def cost(self, query: Any, *args: Any, **kwargs: Any) -> int:
        """How many store reads ``query(store, ...)`` makes; an async query reads
        through ``ThreadedReads`` over this store."""
        self.calls.clear()
        store = cast(Store, self)
        if inspect.iscoroutinefunction(query):
            asyncio.run(query(ThreadedReads(store, self.pool), *args, **kwargs))
        else:
            query(store, *args, **kwargs)
        return sum(self.calls.values())


class CountingReads(_Counted):
    """A store's own ``AsyncReads``, counting each awaited read; ``factory`` makes one
    per request for ``create_app(reads=...)``, all counted in one ``Counter``."""

    @staticmethod
    def factory(calls: Counter[str]) -> Callable[[Store, Executor], AsyncReads]:
        def make(store: Store, pool: Executor) -> AsyncReads:
            return cast(AsyncReads, CountingReads(async_reads(store, pool), calls))

        return make
