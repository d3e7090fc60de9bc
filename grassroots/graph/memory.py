"""The embedded store: a networkx graph in memory, kept durably in SQLite (WAL mode).

A write is one SQLite transaction, applied to the in-memory graph only once it has
committed, so a crash mid-write leaves the previous store intact.

Snapshots. The graph and its indexes form one ``Snapshot``, built completely aside and
then published by one reference assignment; a published snapshot never changes. A
reader takes one snapshot and answers from it (``MemoryStore.snapshot()`` pins one for a
whole request or report), so it sees a committed state whole: never a graph half
rebuilt. Another process's write (``grassroots import`` while ``grassroots serve`` runs)
bumps a generation counter; the first reader to see it reloads, reading the generation
and the data in one SQLite read transaction, while other threads go on answering from
the last complete snapshot. This process's own writes build their snapshot from the
previous one, copying only what they touch (the top-level maps, and the adjacency of the
nodes they change), unless another process has written since, when they reload.

Writers: ``exclusive()`` is the import's critical section, an OS file lock on
``grassroots.lock`` in the data folder (and a thread lock within a process), taken
before the importer reads what is stored and held until its write has committed.

Indexes: ``by_label`` (nodes of a label), ``by_kind`` (areas of a kind), ``by_type``
(relationships of a type, with their properties) and ``attrs`` (a node's label and
properties, the same dict networkx holds, without its view objects in the way); the
graph's own adjacency gives a node's relationships in and out.
"""

from __future__ import annotations

import copy
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import networkx as nx
import orjson

from grassroots.errors import StoreBusy, StoreUnavailable
from grassroots.graph.store import (
    MAX_DEPTH,
    TREE_LABELS,
    Above,
    Below,
    Changes,
    Direction,
    Neighbour,
    Page,
    TreeEntry,
    breadth_first,
    busy_message,
    checkpoint,
    neighbour_order,
)
from grassroots.progress import Progress, Tick, silent
from grassroots.schema import BY_LABEL, Label, Link, Node, Props, RelType
from grassroots.schema.tables import BY_LINK

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no flock; see _try_lock)
    fcntl = None  # type: ignore[assignment]

EdgeKey = tuple[RelType, str]
Edge = tuple[str, str, EdgeKey]
Adjacency = dict[str, dict[str, dict[EdgeKey, dict[str, Any]]]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS node (id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rel (
    type TEXT NOT NULL, key TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    props TEXT NOT NULL, PRIMARY KEY (type, key));
CREATE INDEX IF NOT EXISTS rel_start ON rel (start, type);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
"""

PARENT = {Label.AREA: RelType.WITHIN, Label.PARTY_ORG: RelType.UNDER}
LOCK_FILE = "grassroots.lock"


def _dumps(props: Props) -> str:
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()


def _loads(text: str) -> Props:
    loaded: Props = orjson.loads(text) if text != "{}" else {}  # references carry no props
    return loaded


# -- snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One committed state of the store: the graph and its indexes. Built by a
    ``_Builder`` and never changed once published; readers may hold it for as long as
    they like."""

    generation: int
    graph: nx.MultiDiGraph[str]
    by_label: Mapping[Label, set[str]]
    by_kind: Mapping[str, set[str]]
    by_type: Mapping[RelType, dict[Edge, Props]]
    attrs: Mapping[str, dict[str, Any]]
    ends: Mapping[EdgeKey, tuple[str, str]]


def _internals(graph: nx.MultiDiGraph[str]) -> Any:
    """The graph's own maps (``_node``, ``_succ``, ``_pred``), which its stubs omit."""
    return graph


@dataclass
class _Builder:
    """A snapshot under construction: either from nothing (a load) or from a published
    one, copying on first write each map it changes and the adjacency of each node it
    touches, so the published one stays as it was."""

    graph: nx.MultiDiGraph[str] = field(default_factory=nx.MultiDiGraph)
    # every label and type has its entry, so readers may index them directly
    by_label: dict[Label, set[str]] = field(default_factory=lambda: {lbl: set() for lbl in Label})
    by_kind: dict[str, set[str]] = field(default_factory=dict)
    by_type: dict[RelType, dict[Edge, Props]] = field(
        default_factory=lambda: {rel: {} for rel in RelType}
    )
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ends: dict[EdgeKey, tuple[str, str]] = field(default_factory=dict)
    shared: bool = False  # True: the inner maps still belong to the published snapshot
    _owned: set[Any] = field(default_factory=set)

    @classmethod
    def from_snapshot(cls, base: Snapshot) -> _Builder:
        old: Any = base.graph
        graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        # networkx documents these as assignable (its _CachedPropertyResetter descriptors
        # reset the cached views); the inner dicts are shared until _succ_of/_pred_of copy.
        new: Any = graph
        new._node = dict(old._node)
        new._succ = dict(old._succ)
        new._pred = dict(old._pred)
        return cls(
            graph,
            dict(base.by_label),
            dict(base.by_kind),
            dict(base.by_type),
            dict(base.attrs),
            dict(base.ends),
            shared=True,
        )

    def freeze(self, generation: int) -> Snapshot:
        return Snapshot(
            generation,
            self.graph,
            self.by_label,
            self.by_kind,
            self.by_type,
            self.attrs,
            self.ends,
        )

    def _mine(self, token: Any) -> bool:
        """Whether the map named by ``token`` is already this builder's own copy."""
        if not self.shared or token in self._owned:
            return True
        self._owned.add(token)
        return False

    def _succ_of(self, node_id: str) -> dict[str, dict[EdgeKey, dict[str, Any]]]:
        succ: Adjacency = _internals(self.graph)._succ
        if not self._mine(("succ", node_id)):
            succ[node_id] = {v: dict(keys) for v, keys in succ.get(node_id, {}).items()}
        return succ.setdefault(node_id, {})

    def _pred_of(self, node_id: str) -> dict[str, dict[EdgeKey, dict[str, Any]]]:
        pred: Adjacency = _internals(self.graph)._pred
        if not self._mine(("pred", node_id)):
            pred[node_id] = {u: dict(keys) for u, keys in pred.get(node_id, {}).items()}
        return pred.setdefault(node_id, {})

    def _labelled(self, label: Label) -> set[str]:
        if not self._mine(("label", label)):
            self.by_label[label] = set(self.by_label.get(label, ()))
        return self.by_label.setdefault(label, set())

    def _kinded(self, kind: str) -> set[str]:
        if not self._mine(("kind", kind)):
            self.by_kind[kind] = set(self.by_kind.get(kind, ()))
        return self.by_kind.setdefault(kind, set())

    def _typed(self, rel: RelType) -> dict[Edge, Props]:
        if not self._mine(("type", rel)):
            self.by_type[rel] = dict(self.by_type.get(rel, {}))
        return self.by_type.setdefault(rel, {})

    def add_node(self, node_id: str, label: Label, props: Props) -> None:
        if self.shared:  # a fresh attribute dict: the published one stays as it was
            data: dict[str, Any] = {"label": label, "props": props}
            _internals(self.graph)._node[node_id] = data
            self._succ_of(node_id)
            self._pred_of(node_id)
        else:
            self.graph.add_node(node_id, label=label, props=props)
            data = _internals(self.graph)._node[node_id]
        self.attrs[node_id] = data
        self._labelled(label).add(node_id)
        if label is Label.AREA:
            self._kinded(str(props.get("kind"))).add(node_id)

    def drop_node_entries(self, node_id: str) -> None:
        """Take a stored node out of the indexes and drop its references, before it is
        added again in its new version."""
        data = self.attrs[node_id]
        self._labelled(data["label"]).discard(node_id)
        if data["label"] is Label.AREA:  # only areas are indexed by kind (add_node)
            self._kinded(str(data["props"].get("kind"))).discard(node_id)
        for end, keys in list(self._succ_of(node_id).items()):
            for key in list(keys):
                if key[0] not in BY_LINK:
                    self.drop_edge(node_id, end, key)

    def add_edge(self, start: str, end: str, key: EdgeKey, props: Props) -> None:
        if self.shared:
            data = {"props": props}  # networkx shares one data dict between both ends
            self._succ_of(start).setdefault(end, {})[key] = data
            self._pred_of(end).setdefault(start, {})[key] = data
        else:
            self.graph.add_edge(start, end, key=key, props=props)
        self._typed(key[0])[(start, end, key)] = props
        self.ends[key] = (start, end)  # from_snapshot copied this flat map

    def drop_edge(self, start: str, end: str, key: EdgeKey) -> None:
        if self.shared:
            out, into = self._succ_of(start), self._pred_of(end)
            del out[end][key]
            if not out[end]:
                del out[end]
            del into[start][key]
            if not into[start]:
                del into[start]
        else:
            self.graph.remove_edge(start, end, key=key)
        self._typed(key[0]).pop((start, end, key), None)
        self.ends.pop(key, None)

    def apply(self, changes: Changes) -> None:
        for node in changes.nodes:
            if node.id in self.attrs:
                self.drop_node_entries(node.id)
            self.add_node(node.id, node.label, dict(node.props))
        for node in changes.nodes:
            for rel, end in node.refs.items():
                self.add_edge(node.id, end, (rel, node.id), {})
        for link in changes.links:
            key = (link.type, link.key)
            if ends := self.ends.get(key):
                self.drop_edge(ends[0], ends[1], key)
            self.add_edge(link.start, link.end, key, dict(link.props))


@dataclass
class _Shared:
    """What a store and the snapshot views taken from it share: the latest snapshot, the
    lock that serialises reloads and writes in this process, and which thread is inside
    ``exclusive()``."""

    current: Snapshot
    lock: threading.RLock = field(default_factory=threading.RLock)
    probe_lock: threading.Lock = field(default_factory=threading.Lock)
    held: threading.local = field(default_factory=threading.local)  # .fd: inside exclusive()


def _try_lock(fd: int) -> bool:
    """Take the OS lock on ``fd`` without waiting; False if another process holds it."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    import msvcrt  # pragma: no cover

    try:  # pragma: no cover
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class MemoryStore:
    name = "memory"

    def __init__(self, data: Path, lock_seconds: float = 60.0) -> None:
        self.data = data
        self.lock_seconds = lock_seconds  # how long exclusive() waits for another import
        try:
            data.mkdir(parents=True, exist_ok=True)
            self.path = data / "grassroots.sqlite"
            self._db = self._connect()
            self._db.executescript(SCHEMA)
            # The generation is probed on every read; a connection of its own keeps the
            # probe out of a reload's read transaction on the other.
            self._probe_db = self._connect()
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store in {data}: {exc}."
                " Set GRASSROOTS_DATA to a writable folder."
            ) from None
        self._shared = _Shared(self._read_snapshot())
        self._pin: Snapshot | None = None  # set on a view from snapshot()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    # -- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> MemoryStore:
        """A view of this store pinned to its latest committed state: every read through
        it answers from that one snapshot. Its own writes (a mutation) move it on to the
        state they made."""
        view = copy.copy(self)
        view._pin = self.current()  # a view's view keeps its snapshot
        return view

    def current(self) -> Snapshot:
        """The snapshot this store answers from: the pinned one, else the latest."""
        return self._pin if self._pin is not None else self._latest()

    def _now(self) -> Snapshot:
        """The pinned snapshot, else the latest one loaded, without asking SQLite."""
        return self._pin if self._pin is not None else self._shared.current

    def _stored_generation(self) -> int:
        with self._shared.probe_lock:
            row = self._probe_db.execute("SELECT value FROM meta WHERE name='generation'")
            return int(row.fetchone()[0])

    def _latest(self) -> Snapshot:
        """The latest committed state, reloaded if another process has written since. If
        another thread of this process is reloading or writing just now, the last
        complete snapshot (a reader never waits for, nor sees, a half-built one)."""
        shared = self._shared
        if self._stored_generation() == shared.current.generation:
            return shared.current
        if not shared.lock.acquire(blocking=False):
            return shared.current
        try:
            if self._stored_generation() != shared.current.generation:
                shared.current = self._read_snapshot()
            return shared.current
        finally:
            shared.lock.release()

    def _read_snapshot(self) -> Snapshot:
        """The stored graph, built aside: the generation and the data are read in one
        SQLite read transaction, so they belong together."""
        db = self._db
        build = _Builder()
        labels, types = {lbl.value: lbl for lbl in Label}, {t.value: t for t in RelType}
        db.execute("BEGIN")
        try:
            row = db.execute("SELECT value FROM meta WHERE name='generation'").fetchone()
            for node_id, label, props in db.execute("SELECT id, label, props FROM node"):
                build.add_node(node_id, labels[label], _loads(props))
            checkpoint("reloading")
            for type_, key, start, end, props in db.execute(
                'SELECT type, key, start, "end", props FROM rel'
            ):
                build.add_edge(start, end, (types[type_], key), _loads(props))
        finally:
            db.execute("COMMIT")
        return build.freeze(int(row[0]))

    # -- the snapshot's parts, for the memory coverage evaluator and the benchmarks ------

    @property
    def graph(self) -> nx.MultiDiGraph[str]:
        """The graph of the latest snapshot (reloaded first if another process wrote)."""
        return self.current().graph

    @property
    def by_label(self) -> Mapping[Label, set[str]]:
        return self._now().by_label

    @property
    def by_kind(self) -> Mapping[str, set[str]]:
        return self._now().by_kind

    @property
    def by_type(self) -> Mapping[RelType, dict[Edge, Props]]:
        return self._now().by_type

    @property
    def attrs(self) -> Mapping[str, dict[str, Any]]:
        return self._now().attrs

    # The helpers below read the snapshot as it is, without the generation check:
    # callers take a snapshot once per question, not once per node.

    def succ(self, node_id: str) -> Mapping[str, Mapping[EdgeKey, Props]]:
        """``{target: {edge key: {"props": props}}}``: networkx's adjacency, typed."""
        return _succ(self._now(), node_id)

    def pred(self, node_id: str) -> Mapping[str, Mapping[EdgeKey, Props]]:
        return cast(Mapping[str, Mapping[EdgeKey, Props]], self._now().graph.pred[node_id])

    def out(self, node_id: str, rel: RelType) -> list[str]:
        """The nodes ``node_id`` points to along ``rel``."""
        return [v for v, keys in self.succ(node_id).items() for k in keys if k[0] is rel]

    def into(self, node_id: str, rel: RelType) -> list[str]:
        """The nodes pointing to ``node_id`` along ``rel``."""
        return [u for u, keys in self.pred(node_id).items() for k in keys if k[0] is rel]

    def props(self, node_id: str) -> Props:
        data: Props = self._now().attrs[node_id]["props"]
        return data

    # -- the Store protocol: reads, each from one snapshot ------------------------------

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        snap = self.current()
        return {
            node_id: _node(snap, node_id)
            for node_id in ids
            if node_id in snap.attrs and label in (None, snap.attrs[node_id]["label"])
        }

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        snap = self.current()
        found: dict[tuple[RelType, str], Link] = {}
        for key in keys:
            if ends := snap.ends.get(key):
                props = snap.by_type[key[0]][(ends[0], ends[1], key)]
                found[key] = Link(key[0], ends[0], ends[1], key[1], dict(props))
        return found

    def neighbours(
        self, ids: Collection[str], rel: RelType, direction: Direction
    ) -> dict[str, list[Neighbour]]:
        snap = self.current()
        adjacency = snap.graph.succ if direction == "out" else snap.graph.pred
        found: dict[str, list[Neighbour]] = {}
        for node_id in ids:
            if node_id not in snap.attrs:
                found[node_id] = []
                continue
            found[node_id] = sorted(
                (
                    (other, dict(data["props"]))
                    for other, keys in adjacency[node_id].items()
                    for key, data in keys.items()
                    if key[0] is rel
                ),
                key=neighbour_order,
            )
        return found

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        from grassroots.queries.filters import matches

        snap = self.current()
        needle = search.lower() if search else None
        hits = sorted(
            n
            for n in snap.by_label.get(label, ())
            if matches(snap.attrs[n]["props"], where or {})
            and (needle is None or needle in str(snap.attrs[n]["props"].get("name", "")).lower())
        )
        start = [n for n in hits if after is None or n > after][:limit]
        return Page([_node(snap, n) for n in start], len(hits))

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        snap = self.current()
        rel = PARENT[label]
        entries: dict[str, TreeEntry] = {}
        for node_id in snap.by_label.get(label, ()):
            parents = [v for v, keys in _succ(snap, node_id).items() for k in keys if k[0] is rel]
            kind = snap.attrs[node_id]["props"].get("kind")
            entries[node_id] = TreeEntry(parents[0] if parents else None, kind)
        return entries

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        snap = self.current()
        limit = MAX_DEPTH if depth is None else min(max(depth, 0), MAX_DEPTH)
        label = TREE_LABELS[rel]
        frontier = sorted(
            i for i in set(ids) if i in snap.attrs and snap.attrs[i]["label"] is label
        )
        parent_of: dict[str, str | None] = dict.fromkeys(frontier)
        rows: list[Below] = []
        for level in range(limit + 1):
            below = {i: _pointing(snap, i, rel) for i in frontier}
            rows += [Below(i, parent_of[i], level, len(below[i])) for i in frontier]
            nxt = [c for i in frontier for c in below[i] if c not in parent_of]
            for i in frontier:
                for child in below[i]:
                    parent_of.setdefault(child, i)
            if level == limit or not nxt:
                break
            frontier = nxt
        return breadth_first(rows)

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        snap = self.current()
        found: dict[str, Above] = {}
        wanted = [i for i in set(ids) if i in snap.attrs]
        while wanted:
            up: list[str] = []
            for node_id in wanted:
                data = snap.attrs[node_id]
                name = data["props"].get("name")
                parents = [
                    v for v, keys in _succ(snap, node_id).items() for k in keys if k[0] in rels
                ]
                parent = parents[0] if parents else None
                found[node_id] = Above(data["label"], None if name is None else str(name), parent)
                if parent is not None and parent in snap.attrs:
                    up.append(parent)
            wanted = [i for i in set(up) if i not in found]
        return found

    def elements(self) -> Iterator[Node | Link]:
        snap = self.current()
        for label in Label:
            for node_id in sorted(snap.by_label.get(label, ())):
                yield _node(snap, node_id)
        for type_ in BY_LINK:
            edges = sorted(snap.by_type.get(type_, {}).items(), key=lambda e: e[0][2][1])
            for (start, end, key), props in edges:
                yield Link(type_, start, end, key[1], dict(props))

    def counts(self) -> dict[str, int]:
        snap = self.current()
        out: dict[str, int] = {label.value: len(ids) for label, ids in snap.by_label.items() if ids}
        out.update({t.value: len(e) for t, e in snap.by_type.items() if e})
        return out

    # -- writing -----------------------------------------------------------------------

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """The import's critical section: no other import, in this process or another,
        reads to check or writes until it ends. On entry the store is reloaded to the
        latest committed state. Waits up to ``timeout`` (default ``lock_seconds``) for
        another import to finish, then raises StoreBusy."""
        held = self._shared.held
        if getattr(held, "fd", None) is not None:  # already inside it, in this thread
            yield
            return
        wait = self.lock_seconds if timeout is None else timeout
        # Each call opens the lock file anew, and flock locks conflict between open
        # files, so two threads of one process exclude each other as two processes do.
        fd = self._take_file_lock(time.monotonic() + wait, wait)
        held.fd = fd
        try:
            with self._shared.lock:
                latest = self._reload_now()
            if self._pin is not None:
                self._pin = latest
            yield
        finally:
            held.fd = None
            os.ftruncate(fd, 0)
            _unlock(fd)
            os.close(fd)

    def _reload_now(self) -> Snapshot:
        """The latest committed state, waiting for it (the caller holds the lock)."""
        shared = self._shared
        if self._stored_generation() != shared.current.generation:
            shared.current = self._read_snapshot()
        return shared.current

    def _take_file_lock(self, deadline: float, wait: float) -> int:
        try:
            fd = os.open(self.data / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the lock file in {self.data}: {exc}."
                " Set GRASSROOTS_DATA to a writable folder."
            ) from None
        waited = False
        while not _try_lock(fd):
            if not waited:
                waited = True
                checkpoint("busy")
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreBusy(busy_message(self._holder(), wait))
            time.sleep(0.05)
        holder = {"since": time.time(), "host": socket.gethostname(), "pid": os.getpid()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, orjson.dumps(holder), 0)
        return fd

    def _holder(self) -> dict[str, Any]:
        """Who holds the import lock, as its holder wrote it (empty if unknown)."""
        try:
            text = (self.data / LOCK_FILE).read_bytes()
            found: dict[str, Any] = orjson.loads(text) if text else {}
        except (OSError, orjson.JSONDecodeError):
            return {}
        return found

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        shared = self._shared
        db = self._db
        tick = progress("writing", len(changes))
        with shared.lock:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT value FROM meta WHERE name='generation'").fetchone()
                before = int(row[0])
                checkpoint("writing")
                self._write_rows(changes, tick)
                db.execute("UPDATE meta SET value = value + 1 WHERE name='generation'")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            base = shared.current
            if base.generation == before:  # nobody else wrote since: build on it
                build = _Builder.from_snapshot(base)
                build.apply(changes)
                shared.current = build.freeze(before + 1)
            else:  # another process wrote since our last look: read theirs and ours
                shared.current = self._read_snapshot()
            if self._pin is not None:
                self._pin = shared.current

    def _write_rows(self, changes: Changes, tick: Tick) -> None:
        db = self._db
        db.executemany(
            "INSERT OR REPLACE INTO node VALUES (?, ?, ?)",
            [(node.id, node.label.value, _dumps(node.props)) for node in changes.nodes],
        )
        for node in changes.nodes:
            if node.id in changes.new:
                continue  # a new node has no references to drop
            ref_types = [ref.rel.value for ref in BY_LABEL[node.label].refs]
            marks = ",".join("?" * len(ref_types))
            db.execute(
                f"DELETE FROM rel WHERE start = ? AND type IN ({marks})", (node.id, *ref_types)
            )
        db.executemany(
            "INSERT INTO rel VALUES (?, ?, ?, ?, '{}')",
            [
                (rel.value, node.id, node.id, end)
                for node in changes.nodes
                for rel, end in node.refs.items()
            ],
        )
        tick(len(changes.nodes))
        db.executemany(
            "INSERT OR REPLACE INTO rel VALUES (?, ?, ?, ?, ?)",
            [(ln.type.value, ln.key, ln.start, ln.end, _dumps(ln.props)) for ln in changes.links],
        )
        tick(len(changes.links))

    def reset(self) -> None:
        with self.exclusive(), self._shared.lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM node")
            db.execute("DELETE FROM rel")
            db.execute("UPDATE meta SET value = value + 1 WHERE name='generation'")
            db.execute("COMMIT")
            self._shared.current = self._read_snapshot()
            if self._pin is not None:
                self._pin = self._shared.current

    def close(self) -> None:
        if self._pin is None:  # a snapshot view shares its store's connections
            self._db.close()
            self._probe_db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _succ(snap: Snapshot, node_id: str) -> Mapping[str, Mapping[EdgeKey, Props]]:
    return cast(Mapping[str, Mapping[EdgeKey, Props]], snap.graph.succ[node_id])


def _pointing(snap: Snapshot, node_id: str, rel: RelType) -> list[str]:
    """The nodes pointing at ``node_id`` along ``rel``, by id."""
    return sorted(u for u, keys in snap.graph.pred[node_id].items() for k in keys if k[0] is rel)


def _node(snap: Snapshot, node_id: str) -> Node:
    data = snap.attrs[node_id]
    refs = {
        k[0]: v for v, keys in _succ(snap, node_id).items() for k in keys if k[0] not in BY_LINK
    }
    return Node(data["label"], dict(data["props"]), refs)
