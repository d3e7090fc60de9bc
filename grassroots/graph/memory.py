"""The embedded store: a networkx graph in memory, kept durably in SQLite (WAL mode).

A write is one SQLite transaction, applied to the in-memory graph only once it has
committed, so a crash mid-write leaves the previous store intact. Another process's
write (``grassroots import`` while ``grassroots serve`` runs) bumps a generation counter
that readers check, so they reload instead of answering from a stale copy.

Indexes: ``by_label`` (nodes of a label), ``by_kind`` (areas of a kind), ``by_type``
(relationships of a type, with their properties) and ``attrs`` (a node's label and
properties, the same dict networkx holds, without its view objects in the way); the
graph's own adjacency gives a node's relationships in and out.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import networkx as nx
import orjson

from grassroots.errors import StoreUnavailable
from grassroots.graph.store import (
    Changes,
    Direction,
    Neighbour,
    Page,
    TreeEntry,
    neighbour_order,
)
from grassroots.progress import Progress, silent
from grassroots.schema import BY_LABEL, Label, Link, Node, Props, RelType
from grassroots.schema.tables import BY_LINK

EdgeKey = tuple[RelType, str]
Edge = tuple[str, str, EdgeKey]

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


def _dumps(props: Props) -> str:
    return orjson.dumps(props, option=orjson.OPT_SORT_KEYS).decode()


def _loads(text: str) -> Props:
    loaded: Props = orjson.loads(text) if text != "{}" else {}  # references carry no props
    return loaded


class MemoryStore:
    name = "memory"

    def __init__(self, data: Path) -> None:
        try:
            data.mkdir(parents=True, exist_ok=True)
            self.path = data / "grassroots.sqlite"
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store in {data}: {exc}."
                " Set GRASSROOTS_DATA to a writable folder."
            ) from None
        self._generation = -1
        self._load()

    # -- the in-memory graph and its indexes ------------------------------------------

    @property
    def graph(self) -> nx.MultiDiGraph[str]:
        """The current graph, reloaded first if another process has written since."""
        if self._stored_generation() != self._generation:
            self._load()
        return self._graph

    def _stored_generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE name='generation'").fetchone()
        return int(row[0])

    def _load(self) -> None:
        self._generation = self._stored_generation()
        self._graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        self.by_label: dict[Label, set[str]] = defaultdict(set)
        self.by_kind: dict[str, set[str]] = defaultdict(set)  # areas by kind
        self.by_type: dict[RelType, dict[Edge, Props]] = defaultdict(dict)
        self.attrs: dict[str, dict[str, Any]] = {}  # id -> {"label": ..., "props": ...}
        self._ends: dict[EdgeKey, tuple[str, str]] = {}
        labels, types = {lbl.value: lbl for lbl in Label}, {t.value: t for t in RelType}
        for node_id, label, props in self._db.execute("SELECT id, label, props FROM node"):
            self._add_node(node_id, labels[label], _loads(props))
        for type_, key, start, end, props in self._db.execute(
            'SELECT type, key, start, "end", props FROM rel'
        ):
            self._add_edge(start, end, (types[type_], key), _loads(props))

    def _add_node(self, node_id: str, label: Label, props: Props) -> None:
        self._graph.add_node(node_id, label=label, props=props)
        self.attrs[node_id] = self._graph.nodes[node_id]
        self.by_label[label].add(node_id)
        if label is Label.AREA:
            self.by_kind[str(props.get("kind"))].add(node_id)

    def _add_edge(self, start: str, end: str, key: EdgeKey, props: Props) -> None:
        self._graph.add_edge(start, end, key=key, props=props)
        self.by_type[key[0]][(start, end, key)] = props
        self._ends[key] = (start, end)

    def _drop_edge(self, start: str, end: str, key: EdgeKey) -> None:
        self._graph.remove_edge(start, end, key=key)
        self.by_type[key[0]].pop((start, end, key), None)
        self._ends.pop(key, None)

    # The helpers below read the graph as it is, without the generation check:
    # callers take ``graph`` once per question, not once per node.

    def succ(self, node_id: str) -> Mapping[str, Mapping[EdgeKey, Props]]:
        """``{target: {edge key: {"props": props}}}``: networkx's adjacency, typed."""
        return cast(Mapping[str, Mapping[EdgeKey, Props]], self._graph.succ[node_id])

    def pred(self, node_id: str) -> Mapping[str, Mapping[EdgeKey, Props]]:
        return cast(Mapping[str, Mapping[EdgeKey, Props]], self._graph.pred[node_id])

    def out(self, node_id: str, rel: RelType) -> list[str]:
        """The nodes ``node_id`` points to along ``rel``."""
        return [v for v, keys in self.succ(node_id).items() for k in keys if k[0] is rel]

    def into(self, node_id: str, rel: RelType) -> list[str]:
        """The nodes pointing to ``node_id`` along ``rel``."""
        return [u for u, keys in self.pred(node_id).items() for k in keys if k[0] is rel]

    def props(self, node_id: str) -> Props:
        data: Props = self.attrs[node_id]["props"]
        return data

    # -- the Store protocol ------------------------------------------------------------

    def nodes(self, ids: Collection[str]) -> dict[str, Node]:
        g = self.graph
        found: dict[str, Node] = {}
        for node_id in ids:
            if node_id in g:
                found[node_id] = self._node(node_id)
        return found

    def _node(self, node_id: str) -> Node:
        data = self.attrs[node_id]
        refs = {
            k[0]: v for v, keys in self.succ(node_id).items() for k in keys if k[0] not in BY_LINK
        }
        return Node(data["label"], dict(data["props"]), refs)

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        g = self.graph
        found: dict[tuple[RelType, str], Link] = {}
        for key in keys:
            if ends := self._ends.get(key):
                props = g.edges[ends[0], ends[1], key]["props"]
                found[key] = Link(key[0], ends[0], ends[1], key[1], dict(props))
        return found

    def neighbours(
        self, ids: Collection[str], rel: RelType, direction: Direction
    ) -> dict[str, list[Neighbour]]:
        g = self.graph
        found: dict[str, list[Neighbour]] = {}
        for node_id in ids:
            if node_id not in g:
                found[node_id] = []
                continue
            adjacent = self.succ(node_id) if direction == "out" else self.pred(node_id)
            found[node_id] = sorted(
                (
                    (other, dict(data["props"]))
                    for other, keys in adjacent.items()
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

        g = self.graph
        needle = search.lower() if search else None
        hits = sorted(
            n
            for n in self.by_label[label]
            if matches(g.nodes[n]["props"], where or {})
            and (needle is None or needle in str(g.nodes[n]["props"].get("name", "")).lower())
        )
        start = [n for n in hits if after is None or n > after][:limit]
        return Page([self._node(n) for n in start], len(hits))

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        g = self.graph
        rel = PARENT[label]
        entries: dict[str, TreeEntry] = {}
        for node_id in self.by_label[label]:
            parents = self.out(node_id, rel)
            kind = g.nodes[node_id]["props"].get("kind")
            entries[node_id] = TreeEntry(parents[0] if parents else None, kind)
        return entries

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        db = self._db
        tick = progress("writing", len(changes))
        self.graph  # noqa: B018  # apply onto the latest state
        try:
            db.execute("BEGIN IMMEDIATE")
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
                [
                    (ln.type.value, ln.key, ln.start, ln.end, _dumps(ln.props))
                    for ln in changes.links
                ],
            )
            tick(len(changes.links))
            db.execute("UPDATE meta SET value = value + 1 WHERE name='generation'")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._apply(changes)

    def _apply(self, changes: Changes) -> None:
        g = self._graph
        for node in changes.nodes:
            if node.id in g:
                old_label = g.nodes[node.id]["label"]
                self.by_label[old_label].discard(node.id)
                self.by_kind[str(g.nodes[node.id]["props"].get("kind"))].discard(node.id)
                for _, end, key in list(g.out_edges(node.id, keys=True)):
                    if key[0] not in BY_LINK:
                        self._drop_edge(node.id, end, key)
            self._add_node(node.id, node.label, dict(node.props))
        for node in changes.nodes:
            for rel, end in node.refs.items():
                self._add_edge(node.id, end, (rel, node.id), {})
        for link in changes.links:
            key = (link.type, link.key)
            if ends := self._ends.get(key):
                self._drop_edge(ends[0], ends[1], key)
            self._add_edge(link.start, link.end, key, dict(link.props))
        self._generation = self._stored_generation()

    def elements(self) -> Iterator[Node | Link]:
        self.graph  # noqa: B018  # refresh
        for label in Label:
            for node_id in sorted(self.by_label[label]):
                yield self._node(node_id)
        for type_ in BY_LINK:
            edges = sorted(self.by_type[type_].items(), key=lambda e: e[0][2][1])
            for (start, end, key), props in edges:
                yield Link(type_, start, end, key[1], dict(props))

    def counts(self) -> dict[str, int]:
        self.graph  # noqa: B018  # refresh
        out: dict[str, int] = {label.value: len(ids) for label, ids in self.by_label.items() if ids}
        out.update({t.value: len(e) for t, e in self.by_type.items() if e})
        return out

    def reset(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM node")
        db.execute("DELETE FROM rel")
        db.execute("UPDATE meta SET value = value + 1 WHERE name='generation'")
        db.execute("COMMIT")
        self._load()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
