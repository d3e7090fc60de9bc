"""The ``Store`` protocol: what the importer, the dump and the queries need of a store.

Both stores hold the same graph (see ``grassroots.schema.elements``) and must give
identical answers; the conformance suite in ``tests/`` runs every test on both.

Concurrency, the same on both: a reader answers a request or a report from one
consistent snapshot (``snapshot()``), and an import reads what is stored, checks, diffs
and writes inside one critical section (``exclusive()``), so two imports run one after
the other however they are started.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, TypeVar, cast

import orjson

from grassroots.progress import Progress, silent
from grassroots.schema import Label, Link, Node, Props, RelType
from grassroots.schema.audit import Entry


@dataclass
class Changes:
    """What one import writes, in one transaction as far as the store can hold it (see
    ``Neo4jStore``): nodes replace their stored version (properties and references),
    links are upserted by ``(type, key)``.

    ``new`` holds the ids, and ``new_links`` the keys, that the diff found absent from
    the store: a store may create those outright instead of looking them up first."""

    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    new: set[str] = field(default_factory=set)
    new_links: set[tuple[RelType, str]] = field(default_factory=set)
    audit: Entry | None = None
    """The audit log's entry for this write, its changes filled in: the store appends it
    with the write, in the same transaction where it can."""

    def __len__(self) -> int:
        return len(self.nodes) + len(self.links)


Direction = Literal["out", "in"]
Neighbour = tuple[str, Props]  # the node at the other end, and the relationship's properties


def neighbour_order(neighbour: Neighbour) -> tuple[str, bytes]:
    """The one order both stores list neighbours in: by node, then by properties."""
    other, props = neighbour
    return other, orjson.dumps(props, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Page:
    """One page of nodes in id order, and how many match in all."""

    nodes: list[Node]
    total: int


MANY_IDS = 1000
"""An ``id`` list longer than this (an account's visible part, ``Subtrees.where``: up to
10^5 ids) is not handed to the database by ``find``: DuckDB binds a list parameter at
about 0.7 us an id per statement (70 ms for 10^5), Neo4j seeks its index once an id,
either several times a whole unscoped search. The store reads the ids matching the
other filters instead, and ``among`` keeps those in the list (``long_id_list``)."""


class IdList(list[str]):
    """An ``id`` filter's list that carries its set: ``Subtrees`` makes one a label, once,
    so that ``long_id_list`` does not hash 10^5 ids again on every ``find``."""

    def __init__(self, ids: frozenset[str]) -> None:
        super().__init__(sorted(ids))
        self.set = ids


def long_id_list(where: Mapping[str, Any] | None) -> tuple[frozenset[str], dict[str, Any]] | None:
    """``where``'s ``id`` list as a set, and the other filters, if the list is longer than
    ``MANY_IDS``; None otherwise. Only text can equal an id (``filters``), so the set
    keeps only the list's text."""
    ids = (where or {}).get("id")
    if not isinstance(ids, list) or len(ids) <= MANY_IDS:
        return None
    rest = {name: wanted for name, wanted in (where or {}).items() if name != "id"}
    if isinstance(ids, IdList):
        return ids.set, rest
    return frozenset(i for i in ids if isinstance(i, str)), rest


def among(
    matching: Iterable[str], wanted: Collection[str], after: str | None, limit: int
) -> tuple[list[str], int]:
    """A page of ``find`` worked out from ``matching`` (every id matching the other
    filters, in the store's id order): the first ``limit`` ids in ``wanted`` after
    ``after``, and how many ids in ``wanted`` match in all. ``matching``'s order is
    kept, and ``after`` compared as both stores compare ids (by code point: Neo4j's
    ``>`` does, though its ORDER BY puts ids beyond U+FFFF before U+E000), so the page
    is the one the store's own ``WHERE id > after ORDER BY id`` would give."""
    kept = [i for i in matching if i in wanted]
    page = kept if after is None else [i for i in kept if i > after]
    return page[: max(limit, 0)], len(kept)


@dataclass(frozen=True)
class TreeEntry:
    parent: str | None
    kind: str | None


MAX_DEPTH = 32
"""How far every tree walk goes (an org chart's depth, a responsible chain, a gap's path):
no real hierarchy comes near it (city to household is seven levels), and it keeps a cycle
in data that bypassed the importer's checks from making a walk loop. The importer does
not refuse a deeper chain; walks past it stop there."""


class Below(NamedTuple):
    """One node of a walk down a tree (``Store.descendants``): ``depth`` steps below where
    the walk began, ``parent`` the node it points to (None at depth 0), ``children`` how
    many nodes point to it, also those below the walk's depth (an org chart's
    ``childCount``)."""

    id: str
    parent: str | None
    depth: int
    children: int


class Above(NamedTuple):
    """One node at or above where a walk up began (``Store.ancestors``): its label, its
    ``name`` property (None if it has none) and the node it points to along the walk's
    references (None at the top). (Tuples, not dataclasses: a city's report makes 150k.)"""

    label: Label
    name: str | None
    parent: str | None


class Store(Protocol):
    name: str

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        """The stored nodes among ``ids``, with their references; with ``label``, only
        nodes of it (the embedded store then reads one table, not every one)."""
        ...

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        """The stored links among ``(type, key)`` pairs."""
        ...

    def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        """For each of ``ids``, the nodes along ``rel`` (out of it or into it), by id;
        with ``where``, only along links whose properties match it
        (``grassroots.graph.filters``; a reference has none), so that a reader of a
        few links of many (an org chart's secretaries) reads only those."""
        ...

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Nodes of ``label`` matching the filters (``grassroots.graph.filters``) whose
        name contains ``search`` (any case), in id order after ``after``."""
        ...

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        """Every node of ``label`` with its parent (WITHIN / UNDER) and ``kind``."""
        ...

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        """``ids`` and what lies below them in the tree of ``rel`` (WITHIN or UNDER): the
        nodes pointing at one of them along ``rel``, those pointing at those, and so on,
        at most ``depth`` levels down (default and at most ``MAX_DEPTH``). ``ids`` that
        are not nodes of that tree are left out; each node comes once, at its shallowest,
        in ``breadth_first`` order. One query, whatever the depth."""
        ...

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        """Every node at or above ``ids``: the stored ones among ``ids``, the nodes they
        point at along ``rels`` (references, of which a node holds at most one:
        ``places.TRAIL``'s, or one tree's), the nodes those point at, and so on to the top,
        or at least ``MAX_DEPTH`` nodes up (a store may stop there). ``chain`` reads one
        id's chain off the answer; with no ``rels`` it gives the ids' own labels and
        names. One store read, whatever the height."""
        ...

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        """Apply all of ``changes`` in one transaction, or none of it, and append its
        audit entry (``Changes.audit``)."""
        ...

    def audit_log(self, since: datetime | None = None, actor: str | None = None) -> list[Entry]:
        """The audit log's entries made at or after ``since`` by ``actor``, oldest first,
        each with its changes. Kept beside the graph, like the records: ``reset`` keeps
        it, and no method changes or removes an entry."""
        ...

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """The store's own records of ``kind`` (``account``, ``token``), by key: kept
        beside the graph, never exported, counted or emptied by ``reset``."""
        ...

    def put_record(
        self, kind: str, key: str, doc: dict[str, Any], entry: Entry | None = None
    ) -> None:
        """Save one record (replacing the one of that kind and key), in its own
        transaction, with its audit ``entry``."""
        ...

    def elements(self) -> Iterator[Node | Link]:
        """The whole graph: every node, then every link (for export)."""
        ...

    def counts(self) -> dict[str, int]:
        """Nodes per label and links per type, only those present."""
        ...

    def generation(self) -> object:
        """A value that changes whenever the graph may have changed (a write through any
        process, a reset): what the API keys what it works out once per state by
        (``grassroots.graph.subtrees.SubtreesCache``). Read it before ``snapshot``."""
        ...

    def snapshot(self) -> Store:
        """This store as seen from one consistent snapshot, for one request or report
        (the store itself where every read already sees one committed state)."""
        ...

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        """The writers' critical section, across processes: held by an import from before
        it reads what is stored until its write has committed. Waits up to ``timeout``
        seconds (default: the store's ``GRASSROOTS_LOCK_SECONDS``) for another import,
        then raises ``StoreBusy``."""
        ...

    def reset(self, entry: Entry | None = None) -> None:
        """Empty the graph (inside ``exclusive()``), and append its audit ``entry``."""
        ...

    def close(self) -> None: ...


T = TypeVar("T")


class AsyncReads(Protocol):
    """The reads of ``Store``, awaited: what the API calls, so that no store read holds
    its event loop (a slow read stalls only the request that made it). One per request,
    over that request's ``snapshot()``. ``call`` runs sync work that reads through the
    ``Store`` protocol itself (a coverage report, a link path) off the loop too.

    Each store's own, registered by name in ``ASYNC_READS`` (the Neo4j store's awaits
    the driver's ``AsyncDriver``); any other store's reads run on a bounded thread pool
    (``ThreadedReads``)."""

    async def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]: ...

    async def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]: ...

    async def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page: ...

    async def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]: ...

    async def ancestors(
        self, ids: Collection[str], rels: Sequence[RelType]
    ) -> dict[str, Above]: ...

    async def counts(self) -> dict[str, int]: ...

    async def call(self, work: Callable[[Store], T]) -> T: ...


class ThreadedReads:
    """``AsyncReads`` for a store whose reads are sync calls (the embedded store, and it
    through a running serve): each runs on ``pool``, a bounded thread pool
    (``GRASSROOTS_API_READ_THREADS``), so the event loop only waits for its answer.
    A snapshot of the embedded store may be read from any thread (DuckStore serialises
    a view's reads on its one cursor). A store with an async path of its own overrides
    ``_read`` (``Neo4jReads``)."""

    def __init__(self, store: Store, pool: Executor) -> None:
        self.store = store
        self.pool = pool

    async def _off(self, name: str, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, partial(_paused_read, name, work, *args)
        )

    async def _read(self, name: str, *args: Any) -> Any:
        """The store's read ``name`` (a ``Store`` method) of ``args``, awaited."""
        return await self._off(name, getattr(self.store, name), *args)

    async def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        return cast(dict[str, Node], await self._read("nodes", ids, label))

    async def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        found = await self._read("neighbours", ids, rel, direction, where)
        return cast(dict[str, list[Neighbour]], found)

    async def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        return cast(Page, await self._read("find", label, where, search, after, limit))

    async def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        return cast(list[Below], await self._read("descendants", ids, rel, depth))

    async def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        return cast(dict[str, Above], await self._read("ancestors", ids, rels))

    async def counts(self) -> dict[str, int]:
        return cast(dict[str, int], await self._read("counts"))

    async def call(self, work: Callable[[Store], T]) -> T:
        # the loop's own executor, not the reads' pool: a report or a link path runs for
        # seconds, and a few of them must not leave the lookups no thread to read on
        return await asyncio.to_thread(_paused_read, "call", work, self.store)


def _paused_read(name: str, read: Callable[..., T], *args: Any) -> T:
    checkpoint(f"read-{name}")  # in the worker thread: a paused read holds only its own
    return read(*args)


ReadsFactory = Callable[[Store, Executor], AsyncReads]

ASYNC_READS: dict[str, ReadsFactory] = {}
"""Each store's own ``AsyncReads``, keyed by ``Store.name``, registered by the store's
module as it is imported (a store is made by its module, so its entry is there first);
a store without one reads through ``ThreadedReads``."""


def async_reads(store: Store, pool: Executor) -> AsyncReads:
    """The awaited reads of ``store`` (a request's snapshot), sync work on ``pool``."""
    return ASYNC_READS.get(store.name, ThreadedReads)(store, pool)


def chain(found: Mapping[str, Above], node_id: str) -> list[str]:
    """``node_id`` and the nodes above it, bottom-up, read off an ``ancestors`` answer: it
    stops at the top, before a node that is not stored, before a repeat (a cycle) and at
    ``MAX_DEPTH`` nodes."""
    out: list[str] = []
    seen: set[str] = set()
    current: str | None = node_id
    while current is not None and current in found and current not in seen:
        if len(out) == MAX_DEPTH:
            break
        out.append(current)
        seen.add(current)
        current = found[current].parent
    return out


def breadth_first(rows: Iterable[Below]) -> list[Below]:
    """The one order every store lists ``descendants`` in: level by level, a level's
    nodes as their parents are ordered in the level above, a parent's children by id;
    the starting nodes by id. A node met twice (a cycle) keeps its shallowest row.

    Python orders the rows, not the store, so that the stores agree on the order of
    names outside the Basic Multilingual Plane (Neo4j compares UTF-16 code units)."""
    shallowest: dict[str, Below] = {}
    for row in rows:
        kept = shallowest.get(row.id)
        if kept is None or row.depth < kept.depth:
            shallowest[row.id] = row
    levels: dict[int, list[Below]] = {}
    for row in shallowest.values():
        levels.setdefault(row.depth, []).append(row)
    out: list[Below] = []
    position: dict[str, int] = {}
    for depth in sorted(levels):
        level = sorted(
            levels[depth],
            key=lambda r: (position.get(r.parent, -1) if r.parent else -1, r.id),
        )
        level = [r for r in level if depth == 0 or r.parent in position]
        position = {r.id: i for i, r in enumerate(level)}
        out += level
        if not level:
            break
    return out


TREE_LABELS: dict[RelType, Label] = {RelType.WITHIN: Label.AREA, RelType.UNDER: Label.PARTY_ORG}
"""The trees ``descendants`` walks: the reference that makes each, and its nodes' label."""


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` may be running on this host: False only when it surely is
    not (on POSIX, where ``kill(pid, 0)`` asks without signalling; elsewhere, where it
    would signal, any pid counts as running)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it runs, as another user
        return True
    return True


def busy_message(holder: dict[str, Any], waited: float) -> str:
    """What a command that gave up waiting tells its user; ``holder`` holds what the
    lock's holder recorded: ``since`` (epoch seconds), ``host``, ``pid``, and ``what``
    it is (a command line such as ``grassroots import``; an import when not said)."""
    what = str(holder.get("what") or "import")
    importing = what.split()[-1:] == ["import"]
    who = "another import is writing to this store" if importing else f"{what} holds this store"
    if holder.get("since"):
        since = datetime.fromtimestamp(float(holder["since"])).strftime("%H:%M")
        who += f" since {since} ({holder.get('host', '?')}, pid {holder.get('pid', '?')})"
    todo = "run this import again" if importing else "run this again"
    return (
        f"{who}; wait for it to finish and {todo}"
        f" (waited {waited:g} s; GRASSROOTS_LOCK_SECONDS sets how long)"
    )


def checkpoint(point: str) -> None:
    """TEST-ONLY pause points for the concurrency tests (``tests/test_concurrency.py``).

    With ``GRASSROOTS_TEST_HOOKS`` naming a folder, reaching ``point`` creates
    ``FOLDER/POINT.reached``, and while ``FOLDER/POINT.pause`` exists the process waits
    there (at most 120 s). The points: ``checked`` (an import has checked and diffed,
    inside its critical section, before writing), ``writing`` (inside a store's write
    transaction), ``busy`` (an import found another holding the critical section) and
    ``read-NAME`` (the API's awaited read ``NAME``, ``find`` say, before it reads, off
    the event loop). Unset, as everywhere outside those tests, this does nothing."""
    folder = os.environ.get("GRASSROOTS_TEST_HOOKS")
    if not folder:
        return
    base = Path(folder)
    (base / f"{point}.reached").touch()
    pause, deadline = base / f"{point}.pause", time.monotonic() + 120
    while pause.exists() and time.monotonic() < deadline:
        time.sleep(0.02)


async def checkpoint_async(point: str) -> None:
    """``checkpoint``, awaited: the pause holds the coroutine that reached it, never its
    event loop (a worker thread waits). Unset, it costs a look at the environment."""
    if os.environ.get("GRASSROOTS_TEST_HOOKS"):
        await asyncio.to_thread(checkpoint, point)
