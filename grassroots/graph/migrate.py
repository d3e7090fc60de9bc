"""An embedded store of an earlier version, moved into the DuckDB store once.

Before the DuckDB store, the embedded store was a networkx graph kept in SQLite:
``GRASSROOTS_DATA/grassroots.sqlite`` with a table ``node (id, label, props)``, one of
relationships ``rel (type, key, start, "end", props)`` (references and links alike, a
reference keyed by the id of the node holding it) and ``meta`` (a generation counter);
``props`` are JSON objects. A planner who upgrades keeps that folder, so the first time
the local store opens a folder that holds the old file and no DuckDB file yet, the old
graph moves across:

1. Everything is read with the standard library's ``sqlite3`` and checked against the
   schema (known labels and types, references their node's table has, links whose ends
   are stored nodes): a damaged file stops here, with nothing written.
2. The graph is written into a new DuckDB file beside the folder's future one, in one
   transaction (``DuckStore.write``), and only then put in place under its own name, so
   that a crash at any moment leaves either no DuckDB file (the next open starts again)
   or a complete one.
3. The old file is renamed ``grassroots.sqlite.migrated``: kept, never deleted, and no
   longer found by the next open.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import orjson

from grassroots.errors import StoreUnavailable
from grassroots.graph.duck import FILE_NAME, DuckStore
from grassroots.graph.store import Changes
from grassroots.schema import BY_LABEL, Label, Link, Node, Props, RelType
from grassroots.schema.tables import BY_LINK

OLD_FILE = "grassroots.sqlite"
KEPT_SUFFIX = ".migrated"

READ_NODES = """
SELECT id, label, props
FROM node
ORDER BY id
"""

READ_RELATIONSHIPS = """
SELECT type, key, start, "end", props
FROM rel
ORDER BY type, key
"""


@dataclass(frozen=True)
class Migration:
    """What moved, from where, and where the old file is kept."""

    nodes: int
    links: int
    source: Path
    kept: Path
    target: Path

    def notice(self) -> str:
        return (
            f"moved the earlier version's store ({self.nodes:,} nodes, {self.links:,} links)"
            f" from {self.source} into {self.target}; the old file is kept as {self.kept}"
        )


class _Damaged(Exception):
    """What is wrong with the old file, said in a few words."""


def migrate(data: Path, lock_seconds: float = 60.0) -> Migration | None:
    """Move the old store in ``data`` into the DuckDB store, if there is one to move and
    no DuckDB store yet; None when there is nothing to do."""
    source, target = data / OLD_FILE, data / FILE_NAME
    if not source.is_file() or target.exists():
        return None
    try:
        changes = _read(source)
    except (_Damaged, sqlite3.Error, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreUnavailable(
            f"the store of an earlier version, {source}, cannot be read ({exc}), so it was"
            " not moved into the new store: restore it from a backup and run this again, or"
            " move it out of GRASSROOTS_DATA to start with an empty store"
        ) from None
    building = data / f".migrating-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)  # what a crashed attempt of ours left
    try:
        with DuckStore(building, lock_seconds) as fresh:
            fresh.write(changes)
        try:  # a link, not a rename: it fails rather than replace another's finished file
            os.link(building / FILE_NAME, target)
        except FileExistsError:
            return None  # another process moved the same store at the same moment
    except OSError as exc:
        raise StoreUnavailable(
            f"cannot move the earlier version's store {source} into {target}:"
            f" {exc.strerror or exc}. Make GRASSROOTS_DATA writable, with room for a copy"
            " of the store, and run this again"
        ) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    kept = source.with_name(source.name + KEPT_SUFFIX)
    try:
        source.rename(kept)
    except FileNotFoundError:  # the other process of the race above renamed it
        return None
    links = len(changes.links) + sum(len(node.refs) for node in changes.nodes)
    return Migration(len(changes.nodes), links, source, kept, target)


def _read(source: Path) -> Changes:
    """The old graph, checked, as one write of the new store."""
    # Not read-only: closing the last connection folds a left-over WAL into the file, so
    # the renamed file is whole on its own.
    db = sqlite3.connect(source, isolation_level=None)
    try:
        db.execute("BEGIN")
        nodes = _nodes(db.execute(READ_NODES))
        links = _relationships(db.execute(READ_RELATIONSHIPS), nodes)
        db.execute("COMMIT")
    finally:
        db.close()
    return Changes(
        nodes=list(nodes.values()),
        links=links,
        new=set(nodes),
        new_links={(link.type, link.key) for link in links},
    )


def _props(text: object, where: str) -> Props:
    props = orjson.loads(text) if isinstance(text, str | bytes) else None
    if not isinstance(props, dict):
        raise _Damaged(f"{where} has no JSON object of properties")
    return props


def _nodes(rows: sqlite3.Cursor) -> dict[str, Node]:
    labels = {label.value: label for label in Label}
    nodes: dict[str, Node] = {}
    for node_id, label, text in rows:
        if label not in labels:
            raise _Damaged(f"node {node_id!r} has the unknown label {label!r}")
        props = _props(text, f"node {node_id!r}")
        if props.get("id") != node_id:
            raise _Damaged(f"node {node_id!r} holds the id {props.get('id')!r}")
        nodes[node_id] = Node(labels[label], props, {})
    return nodes


def _relationships(rows: sqlite3.Cursor, nodes: dict[str, Node]) -> list[Link]:
    types = {rel.value: rel for rel in RelType}
    links: list[Link] = []
    for type_, key, start, end, text in rows:
        where = f"relationship {type_} {key!r}"
        if type_ not in types:
            raise _Damaged(f"{where} has an unknown type")
        if start not in nodes or end not in nodes:
            raise _Damaged(f"{where} names a node the store does not hold")
        rel = types[type_]
        if rel in BY_LINK:
            links.append(Link(rel, start, end, key, _props(text, where)))
            continue
        holder = nodes[start]
        if rel not in {ref.rel for ref in BY_LABEL[holder.label].refs} or key != start:
            raise _Damaged(f"{where} is no reference a {holder.label.value} holds")
        holder.refs[rel] = end
    return links
