"""The embedded store (``local``, the default) on DuckDB: one file,
``GRASSROOTS_DATA/grassroots.duckdb``.

Layout. One table per node label (``"Area"``, ``"PartyOrg"``...) and one per link type
(``"HOLDS_POST"``...), their typed columns derived from the ledger's pydantic models
(``grassroots.schema``): a ``Day`` is a DATE, a ``Flag`` a BOOLEAN, a ``Count`` a BIGINT,
an ``Amount`` a DOUBLE, text, ids and choices VARCHAR. No column list is written by hand:
``LAYOUTS`` is computed from ``TABLES``. Each table also has an ``extra`` JSON column for
what no typed column holds: the unknown columns a ledger may carry, and (should a write
ever bypass validation) any value that does not fit its column's type exactly. A node's
properties are its non-empty typed columns with ``extra`` laid over them, so every node
and link reads back exactly as it was written.

References (``*_id`` columns: an area's parent, a household's building) are columns of
the node table, not rows of relationship tables: every read that wants them wants them
with the node (``nodes()`` returns them, coverage paths and scopes follow them one join
at a time), a node has at most one of each, and a column costs no join, no key and no
second write when the node changes. Following one backwards (an area's children) is a
scan of one column, which DuckDB does at memory speed. Links (posts, employments,
contacts, reports) have properties and keys of their own, so they are rows of their
type's table: ``key`` (the primary key), ``start``, ``end`` and the link's columns.

Transactions. ``write`` is one DuckDB transaction: everything or, on any error, nothing.
Each read method runs inside one read transaction, so it sees one committed state.
Opening an existing store reads its catalogue only (milliseconds, no rebuild).

Processes. DuckDB lets one process at a time open a file, even to read. The process
holding it records who it is (``since``, ``host``, ``pid``, ``what``) in
``grassroots.holder.json`` beside the database, removed on ``close()``. Another process
that finds the file held waits up to ``lock_seconds`` for it (reaching the ``busy``
pause point once), then raises ``StoreBusy`` naming the holder; the holder's file is
ignored once its pid is dead. A store releases the file on ``close()`` and opens it
again on its next read, so a process may let another (a CLI import) use the file in
between. A running ``grassroots serve`` holds the file for as long as it runs: a CLI
command then hands its work to it (``grassroots.graph.served``) instead of waiting.

Threads. DuckDB connections are not shared between threads: each thread reads through
its own cursor on the one database.

Snapshots and the critical section. ``snapshot()`` is a view reading through one cursor
held inside one read transaction (DuckDB's MVCC), so a request or a report sees one
committed state; the transaction ends when the view is dropped, and a write through the
view moves it on to the state it made. ``exclusive()``, the import's critical section,
is a lock per store file within the process, taken with the file open: DuckDB's own
file lock keeps any other process out for as long as this one has it.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import socket
import sys
import threading
import time
import types
import typing
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson

from grassroots.errors import StoreBusy, StoreError, StoreUnavailable
from grassroots.graph.filters import SqlParams, matches
from grassroots.graph.store import (
    MAX_DEPTH,
    TREE_LABELS,
    Above,
    Below,
    Changes,
    Direction,
    Neighbour,
    Page,
    Store,
    TreeEntry,
    among,
    breadth_first,
    busy_message,
    checkpoint,
    long_id_list,
    neighbour_order,
    process_alive,
)
from grassroots.progress import Progress, silent
from grassroots.schema import TABLES, Label, Link, Node, Props, RelType, Table
from grassroots.schema.audit import COLUMNS, Change, Entry, change_of, entries_of, rows_of

FILE_NAME = "grassroots.duckdb"
HOLDER_FILE = "grassroots.holder.json"  # who holds the file: see "Processes" above
EXTRA = "extra"
BATCH = 100_000  # rows per INSERT: each column goes in as one list parameter
PARENT = {Label.AREA: RelType.WITHIN, Label.PARTY_ORG: RelType.UNDER}
LABELS = {label.value: label for label in Label}  # faster than Label(value), per row
PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
R = TypeVar("R")
Run = Callable[[str, dict[str, Any]], list[Any]]
"""One statement run inside a read (``DuckStore._in_one_read``): its rows."""

# -- the layout, derived from the schema -------------------------------------------------

SQL_TYPES: dict[type, str] = {
    bool: "BOOLEAN",  # before int: a bool is an int in Python
    int: "BIGINT",
    float: "DOUBLE",
    date: "DATE",
    str: "VARCHAR",
}


def sql_type(annotation: Any) -> str:
    """The column type of a model field: its annotation with ``None`` and ``Annotated``
    taken off (``Day | None`` -> ``date`` -> DATE; a choice is a str enum -> VARCHAR)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return sql_type(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return sql_type(inner)
    for python, sql in SQL_TYPES.items():
        if isinstance(annotation, type) and issubclass(annotation, python):
            return sql
    raise TypeError(f"no column type for {annotation!r}")


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass(frozen=True)
class Layout:
    """One DuckDB table: a node label's (``id`` first) or a link type's (``key``,
    ``start``, ``end`` first); ``props`` are the typed property columns, ``refs`` a node
    table's reference columns, then ``extra``."""

    name: str
    props: tuple[Column, ...]
    refs: tuple[tuple[str, RelType], ...] = ()
    link: bool = False

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.props}

    @cached_property
    def names(self) -> tuple[str, ...]:
        """The typed property columns' names, in order (``join_props`` reads by them)."""
        return tuple(c.name for c in self.props)

    @cached_property
    def days(self) -> tuple[str, ...]:
        """The DATE columns, which DuckDB returns as ``date`` and a property holds as text."""
        return tuple(c.name for c in self.props if c.type == "DATE")

    def columns(self) -> list[Column]:
        """Every column, in table order."""
        head = [Column("key", "VARCHAR"), Column("start", "VARCHAR"), Column("end", "VARCHAR")]
        refs = [Column(name, "VARCHAR") for name, _ in self.refs]
        return [*(head if self.link else []), *self.props, *refs, Column(EXTRA, "JSON")]

    def create(self) -> str:
        first = "key" if self.link else "id"
        lines = [
            f"{q(c.name)} {c.type}{' PRIMARY KEY' if c.name == first else ''}"
            for c in self.columns()
        ]
        return f"CREATE TABLE IF NOT EXISTS {q(self.name)} (\n  " + ",\n  ".join(lines) + "\n)"


def _layout(table: Table) -> Layout:
    ref_columns = {ref.column for ref in table.refs}
    props = tuple(
        Column(name, sql_type(info.annotation))
        for name, info in table.model.model_fields.items()
        if name not in ref_columns
    )
    if table.label is not None:
        refs = tuple((ref.column, ref.rel) for ref in table.refs)
        return Layout(table.label.value, props, refs)
    assert table.rel is not None
    return Layout(table.rel.value, props, link=True)


NODE_LAYOUTS: dict[Label, Layout] = {t.label: _layout(t) for t in TABLES if t.label is not None}
LINK_LAYOUTS: dict[RelType, Layout] = {t.rel: _layout(t) for t in TABLES if t.rel is not None}
LAYOUTS: list[Layout] = [*NODE_LAYOUTS.values(), *LINK_LAYOUTS.values()]


@dataclass(frozen=True)
class Holder:
    """Where a reference lives: the node table and column holding it, and the label of
    the node it names."""

    label: Label
    column: str
    target: Label


def _holders() -> dict[RelType, Holder]:
    by_table = {t.name: t.label for t in TABLES if t.label is not None}
    out: dict[RelType, Holder] = {}
    for table in TABLES:
        if table.label is not None:
            for ref in table.refs:
                out[ref.rel] = Holder(table.label, ref.column, by_table[ref.target])
    return out


HOLDERS: dict[RelType, Holder] = _holders()


def _link_ends() -> dict[RelType, tuple[Label, Label]]:
    by_table = {t.name: t.label for t in TABLES if t.label is not None}
    return {
        t.rel: (by_table[t.refs[0].target], by_table[t.refs[1].target])
        for t in TABLES
        if t.rel is not None
    }


LINK_ENDS: dict[RelType, tuple[Label, Label]] = _link_ends()
"""Each link type's start and end labels."""


def q(name: str) -> str:
    """An identifier, quoted: names come from the schema's enums and models only."""
    return '"' + name.replace('"', '""') + '"'


def column_list(alias: str, columns: Sequence[Column]) -> str:
    return ", ".join(f"{alias}.{q(c.name)}" for c in columns)


# -- values in and out -------------------------------------------------------------------

_MISSING = object()


def to_sql(kind: str, value: Any) -> Any:
    """``value`` as a ``kind`` column holds it, or ``_MISSING`` when it does not fit
    exactly (then it goes to ``extra``, so that it reads back as it was)."""
    if kind == "VARCHAR":
        return value if isinstance(value, str) else _MISSING
    if kind == "BOOLEAN":
        return value if isinstance(value, bool) else _MISSING
    if kind == "BIGINT":
        ok = type(value) is int and -(2**63) <= value < 2**63
        return value if ok else _MISSING
    if kind == "DOUBLE":
        return value if type(value) is float else _MISSING
    if kind == "DATE":
        if isinstance(value, str) and len(value) == 10:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return _MISSING
            return day if day.isoformat() == value else _MISSING
        return _MISSING
    raise AssertionError(kind)


def from_sql(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):  # never stored, but never leaked either
        return value.value
    return value


def split_props(layout: Layout, props: Props) -> tuple[list[Any], str | None]:
    """A node's or link's properties as typed column values and the ``extra`` JSON."""
    values: list[Any] = []
    typed: set[str] = set()
    for column in layout.props:
        value = props.get(column.name, _MISSING)
        converted = _MISSING if value is _MISSING else to_sql(column.type, value)
        if converted is _MISSING:
            values.append(None)
        else:
            values.append(converted)
            typed.add(column.name)
    extra = {k: v for k, v in props.items() if k not in typed}
    return values, (orjson.dumps(extra).decode() if extra else None)


def join_props(layout: Layout, values: Sequence[Any], extra: str | None) -> Props:
    """The inverse of ``split_props``. (Per row of every read: only the DATE columns
    are converted, the others come back from DuckDB as the property's own value.)"""
    props: Props = {
        name: value for name, value in zip(layout.names, values, strict=True) if value is not None
    }
    for name in layout.days:
        if name in props:
            props[name] = from_sql(props[name])
    if extra:
        props.update(orjson.loads(extra))
    return props


# -- SQL: constants, one clause per line; values are always parameters -------------------

IDS = "(SELECT UNNEST($ids::VARCHAR[]))"


def select_nodes(layout: Layout, where: str) -> str:
    refs = [Column(name, "VARCHAR") for name, _ in layout.refs]
    return f"""
SELECT {column_list("n", [*layout.props, *refs, Column(EXTRA, "JSON")])}
FROM {q(layout.name)} AS n
WHERE {where}
"""


FEW_IDS = 8
"""Up to this many ids, ``nodes`` first asks which tables hold them (one statement whose
scans test each row against the short list), then reads only those: a lookup such as a
responsible chain's first takes 3 ms instead of 7 ms for eight reads at city scale. A
longer list makes that test the cost (100 ids: 50 ms), so more ids read every table."""

WHICH_LABELS = (
    "SELECT DISTINCT label\nFROM (\n"
    + "\n  UNION ALL\n".join(
        f"  SELECT '{label.value}' AS label\n  FROM {q(label.value)} AS n\n"
        "  WHERE list_contains($ids, n.id)"
        for label in NODE_LAYOUTS
    )
    + "\n) AS held"
)
"""The labels of the tables holding any of ``$ids`` (the schema's names, as the tables'
are, written into the text; the ids are a parameter)."""


def select_links(layout: Layout, where: str) -> str:
    return f"""
SELECT {column_list("n", layout.columns())}
FROM {q(layout.name)} AS n
WHERE {where}
"""


def walk_down(rel: RelType) -> str:
    """``descendants`` along a tree's reference: the walk, bounded by ``$depth`` (which
    also ends a cycle), and each reached node's children counted in the same query."""
    table, parent = q(TREE_LABELS[rel].value), q(HOLDERS[rel].column)
    return f"""
WITH RECURSIVE
walk(id, parent, depth) AS (
  SELECT n.id, CAST(NULL AS VARCHAR), 0
  FROM {table} AS n
  WHERE n.id IN {IDS}
  UNION ALL
  SELECT n.id, n.{parent}, w.depth + 1
  FROM walk AS w
  JOIN {table} AS n ON n.{parent} = w.id
  WHERE w.depth < $depth
),
children(id, n) AS (
  SELECT c.{parent}, count(*)
  FROM {table} AS c
  WHERE c.{parent} IN (SELECT id FROM walk)
  GROUP BY c.{parent}
)
SELECT w.id, w.parent, w.depth, coalesce(children.n, 0)
FROM walk AS w
LEFT JOIN children ON children.id = w.id
"""


def trail_rows(params: Any, labels: Collection[Label], rels: Sequence[RelType]) -> str:
    """Every node table of ``labels`` as rows ``(id, label, name, parent)``, the parent
    being the one of ``rels`` the table holds (``params``: a ``SqlParams``)."""
    parts = []
    for label in labels:
        layout = NODE_LAYOUTS[label]
        held = [HOLDERS[rel].column for rel in rels if HOLDERS[rel].label is label]
        up = f"n.{q(held[0])}" if held else "CAST(NULL AS VARCHAR)"
        name = params.text("n", layout, "name")
        kind = params.param(label.value)
        parts.append(
            f"SELECT n.id, {kind} AS label, {name} AS name, {up} AS parent\n"
            f"FROM {q(label.value)} AS n"
        )
    return "\nUNION ALL\n".join(parts)


def climbed(rels: Sequence[RelType]) -> list[Label]:
    """The labels a walk up ``rels`` reaches above where it starts."""
    targets = {HOLDERS[rel].target for rel in rels}
    return [label for label in NODE_LAYOUTS if label in targets]


def walk_up(rels: Sequence[RelType]) -> tuple[str, dict[str, Any]]:
    """``ancestors``: every node table as rows ``(id, label, name, parent)``, the parent
    being the one of ``rels`` the table holds; the walk starts at ``$ids`` and climbs.
    ``UNION`` keeps each row once, so a cycle adds nothing new and the walk ends."""

    params = SqlParams()
    start = trail_rows(params, list(NODE_LAYOUTS), rels)
    above = trail_rows(params, climbed(rels), rels) if rels else ""
    sql = f"""
WITH RECURSIVE
up(id, label, name, parent) AS (
  SELECT s.*
  FROM (
{_indent(start, 4)}
  ) AS s
  WHERE s.id IN {IDS}
"""
    if above:
        sql += f"""  UNION
  SELECT a.*
  FROM up
  JOIN (
{_indent(above, 4)}
  ) AS a ON a.id = up.parent
"""
    sql += """)
SELECT id, label, name, parent
FROM up
"""
    return sql, params.params


def step_up(
    labels: Collection[Label], rels: Sequence[RelType], ids: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """One level of a climb by a few ids: the rows of ``trail_rows`` whose id is one of
    ``ids``, each a parameter, so that DuckDB finds them by the primary key's index."""

    params = SqlParams()
    rows = trail_rows(params, labels, rels)
    named = ", ".join(params.param(i) for i in ids)
    sql = f"""
SELECT s.id, s.label, s.name, s.parent
FROM (
{_indent(rows, 2)}
) AS s
WHERE s.id IN ({named})
"""
    return sql, params.params


def _indent(text: str, width: int) -> str:
    return "\n".join(" " * width + line for line in text.splitlines())


def insert_rows(layout: Layout) -> str:
    columns = layout.columns()
    names = ", ".join(q(c.name) for c in columns)
    lists = ", ".join(f"UNNEST($c{i}::{c.type}[])" for i, c in enumerate(columns))
    return f"""
INSERT INTO {q(layout.name)} ({names})
SELECT {lists}
"""


def delete_rows(layout: Layout) -> str:
    key = "key" if layout.link else "id"
    return f"""
DELETE FROM {q(layout.name)}
WHERE {q(key)} IN {IDS}
"""


_WRITERS: dict[Path, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


AUDIT = "grassroots_audit"
CREATE_AUDIT = f"""
CREATE TABLE IF NOT EXISTS {AUDIT} (
  entry VARCHAR NOT NULL,
  "at" TIMESTAMPTZ NOT NULL,
  actor VARCHAR NOT NULL,
  via VARCHAR NOT NULL,
  action VARCHAR NOT NULL,
  n BIGINT NOT NULL,
  kind VARCHAR NOT NULL,
  type VARCHAR NOT NULL,
  id VARCHAR NOT NULL,
  before VARCHAR,
  after VARCHAR
)
"""
"""The audit log, one row per change (``grassroots.schema.audit``): beside the graph,
as the records are, so ``reset`` keeps it; only ever inserted into."""

RECORDS = "grassroots_records"
CREATE_RECORDS = f"""
CREATE TABLE IF NOT EXISTS {RECORDS} (
  kind VARCHAR NOT NULL,
  key VARCHAR NOT NULL,
  doc VARCHAR NOT NULL,
  PRIMARY KEY (kind, key)
)
"""
"""The store's own records beside the graph (accounts and tokens: ``Store.records``),
kept by ``reset``, which empties only the graph's tables."""


def _writer_lock(path: Path) -> threading.RLock:
    """One critical section per store file in this process, however many stores open it."""
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(path.resolve(), threading.RLock())


class DuckStore:
    name = "local"  # what --store, /healthz and the reports call it

    def __init__(
        self,
        data: Path,
        lock_seconds: float = 60.0,
        waiting: Callable[[], None] | None = None,
    ) -> None:
        """Open the store in ``data``. ``waiting`` is called, while the first opening
        waits for another process to let go of the file, every quarter second: it may
        raise to stop waiting (``open_store`` hands the work to a running serve)."""
        self.data = data
        self.path = data / FILE_NAME
        # how long opening waits for another process, and exclusive() for another import
        self.lock_seconds = lock_seconds
        self._guard = threading.Lock()
        self._writer = _writer_lock(self.path)
        self._pin: duckdb.DuckDBPyConnection | None = None  # a snapshot view's cursor
        self._pin_guard = threading.Lock()
        self._db: duckdb.DuckDBPyConnection | None = None
        self._epoch = 0  # bumped on close, so threads' cursors of an old connection go
        self._writes = [0]  # this process's writes, shared with its views (``generation``)
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        with self._guard:  # open now, so a bad folder or a held file fails here
            self._db = self._open(lock_seconds, waiting)

    # -- the connection ---------------------------------------------------------------

    def _connection(self, wait: float | None = None) -> duckdb.DuckDBPyConnection:
        """The open database; opening it waits up to ``wait`` (default ``lock_seconds``)
        for another process holding the file."""
        with self._guard:
            if self._db is None:
                self._db = self._open(self.lock_seconds if wait is None else wait)
            return self._db

    def _open(
        self, wait: float, waiting: Callable[[], None] | None = None
    ) -> duckdb.DuckDBPyConnection:
        try:
            self.data.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot open the embedded store in {self.data}: {exc.strerror}."
                " Set GRASSROOTS_DATA to a writable folder."
            ) from None
        began, said = time.monotonic(), False
        while True:
            try:
                db = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise StoreUnavailable(
                        f"cannot open the embedded store {self.path}: {exc}. Set"
                        " GRASSROOTS_DATA to a writable folder, or move a damaged file aside."
                    ) from None
                waited = time.monotonic() - began
                if not said:
                    said = True
                    checkpoint("busy")  # a test-only pause point
                if waited >= wait:
                    raise StoreBusy(busy_message(self._holder(str(exc)), wait)) from None
                if waiting is not None:
                    waiting()
                time.sleep(min(0.25, max(wait - waited, 0.01)))
            except duckdb.Error as exc:
                raise StoreUnavailable(
                    f"cannot open the embedded store {self.path}: {exc}. If it is not a"
                    " grassroots store, set GRASSROOTS_DATA to another folder."
                ) from None
        try:
            self._setup(db)
        except BaseException:
            db.close()
            raise
        self._hold()
        return db

    # -- who holds the file ------------------------------------------------------------

    @property
    def holder_path(self) -> Path:
        return self.data / HOLDER_FILE

    def _hold(self) -> None:
        """Record this process as the file's holder, for another that finds it held."""
        record = {
            "since": time.time(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "what": " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "",
        }
        with suppress(OSError):  # only a message depends on it
            partial = self.holder_path.with_name(f"{HOLDER_FILE}.{os.getpid()}")
            partial.write_bytes(orjson.dumps(record))
            partial.replace(self.holder_path)

    def _let_go(self) -> None:
        """Remove this process's holder record (not one another process wrote since)."""
        with suppress(OSError, orjson.JSONDecodeError):
            if orjson.loads(self.holder_path.read_bytes()).get("pid") == os.getpid():
                self.holder_path.unlink()

    def _holder(self, message: str) -> dict[str, Any]:
        """Who holds the file: its record, while its process lives (on this host); else
        what DuckDB's lock error says."""
        with suppress(OSError, orjson.JSONDecodeError, ValueError, TypeError):
            record = orjson.loads(self.holder_path.read_bytes())
            if isinstance(record, dict) and _alive(record):
                return record
        return {"what": f"another process ({_pid_in(message)})"}

    @staticmethod
    def _setup(db: duckdb.DuckDBPyConnection) -> None:
        """Create missing tables, and add columns the schema has gained since: an
        existing, current store costs one catalogue query."""
        found: dict[str, set[str]] = defaultdict(set)
        for table, column in db.execute(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main'"
        ).fetchall():
            found[str(table)].add(str(column))
        db.execute(CREATE_RECORDS)
        db.execute(CREATE_AUDIT)
        for layout in LAYOUTS:
            if layout.name not in found:
                db.execute(layout.create())
                continue
            for column in layout.columns():
                if column.name not in found[layout.name]:
                    db.execute(
                        f"ALTER TABLE {q(layout.name)} ADD COLUMN {q(column.name)} {column.type}"
                    )

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database."""
        if self._pin is not None:
            return self._pin
        return self._own_cursor()

    def _own_cursor(self) -> duckdb.DuckDBPyConnection:
        db = self._connection()
        local = self._local
        if getattr(local, "epoch", None) != self._epoch or local.cursor is None:
            local.cursor = db.cursor()
            local.epoch = self._epoch
            with self._guard:
                self._cursors.append(local.cursor)
        cursor: duckdb.DuckDBPyConnection = local.cursor
        return cursor

    def leave_thread(self) -> None:
        """Close this thread's own cursor, for a thread that ends while the store stays
        open (a lease's, in a long-running serve), so cursors do not pile up."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            return
        self._local.cursor = None
        with self._guard:
            if cursor in self._cursors:
                self._cursors.remove(cursor)
        with suppress(duckdb.Error):
            cursor.close()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """One read, in its own transaction (or the snapshot's)."""
        return self._reads([(sql, params or {})])[0]

    def _reads(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
        """Several reads from one snapshot: one read transaction around them all (a
        snapshot view's own, which it holds)."""
        return self._in_one_read(lambda run: [run(sql, params) for sql, params in statements])

    def _in_one_read(self, work: Callable[[Run], R]) -> R:
        """``work``, given ``run`` (a statement's rows), inside one read transaction as
        ``_reads`` is: for reads whose next statement depends on the last one's rows."""
        try:
            if self._pin is not None:
                pin = self._pin
                with self._pin_guard:  # a view may be read from more than one thread
                    try:
                        return work(
                            lambda sql, params: pin.execute(sql, _bound(sql, params)).fetchall()
                        )
                    except duckdb.Error:
                        # a failed statement aborts the view's transaction: start a new
                        # one, so the view's later reads still answer
                        with suppress(duckdb.Error):
                            pin.rollback()
                        pin.begin()
                        raise
            cur = self._own_cursor()
            cur.begin()
            try:
                return work(lambda sql, params: cur.execute(sql, _bound(sql, params)).fetchall())
            finally:
                cur.commit()
        except duckdb.Error as exc:
            raise _error(exc) from None

    # -- snapshots and the writers' critical section -----------------------------------

    def snapshot(self) -> DuckStore:
        """A view of this store reading from one committed state until it is dropped; a
        view's view is the view itself, so a report inside a request shares its state."""
        if self._pin is not None:
            return self
        view = copy.copy(self)
        view._pin_guard = threading.Lock()
        view._pin = self._connection().cursor()
        try:
            view._pin.begin()
        except duckdb.Error as exc:
            raise _error(exc) from None
        return view

    def generation(self) -> object:
        """This process's writes, and how often it let the file go: another process
        writes the file only while this one has let it go (DuckDB admits one)."""
        return (self._epoch, self._writes[0])

    def _move_on(self) -> None:
        """After a write: a view reads from the state it made; ``generation`` moves."""
        self._writes[0] += 1
        if self._pin is not None:
            with self._pin_guard:
                self._pin.commit()
                self._pin.begin()

    def __del__(self) -> None:
        pin = getattr(self, "_pin", None)
        if pin is not None:
            with suppress(duckdb.Error):
                pin.close()

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """The import's critical section: within this process a lock per file, across
        processes the file itself, held open throughout (DuckDB admits one process);
        waits up to ``timeout`` (default ``lock_seconds``) for either, then raises
        StoreBusy."""
        wait = self.lock_seconds if timeout is None else timeout
        if not self._writer.acquire(blocking=False):
            checkpoint("busy")
            if not self._writer.acquire(timeout=wait):
                raise StoreBusy(busy_message({}, wait))
        try:
            self._connection(wait)
            self._move_on()  # a view checks against the latest state, not the one it read
            yield
        finally:
            self._writer.release()

    # -- the Store protocol: reads -----------------------------------------------------

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        params = {"ids": wanted}
        if label is not None:
            labels = [label]
        elif len(wanted) <= FEW_IDS:  # which tables hold them: one statement, not eight
            (rows,) = self._reads([(WHICH_LABELS, params)])
            labels = [LABELS[row[0]] for row in rows]
            if not labels:
                return {}
        else:
            labels = list(NODE_LAYOUTS)
        layouts = [(each, NODE_LAYOUTS[each]) for each in labels]
        results = self._reads(
            [(select_nodes(layout, f"n.id IN {IDS}"), params) for _, layout in layouts]
        )
        found: dict[str, Node] = {}
        for (label, layout), rows in zip(layouts, results, strict=True):
            for row in rows:
                node = _node(label, layout, row)
                found[node.id] = node
        return found

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        by_type: dict[RelType, list[str]] = defaultdict(list)
        for rel, key in keys:
            by_type[rel].append(key)
        statements: list[tuple[str, dict[str, Any]]] = []
        for rel, wanted in by_type.items():
            if rel in LINK_LAYOUTS:
                sql = select_links(LINK_LAYOUTS[rel], f"n.key IN {IDS}")
            else:  # a reference's key is the id of the node holding it
                holder = HOLDERS[rel]
                sql = f"""
SELECT n.id, n.{q(holder.column)}
FROM {q(holder.label.value)} AS n
WHERE n.id IN {IDS}
  AND n.{q(holder.column)} IS NOT NULL
"""
            statements.append((sql, {"ids": wanted}))
        found: dict[tuple[RelType, str], Link] = {}
        for rel, rows in zip(by_type, self._reads(statements), strict=True):
            for row in rows:
                if rel in LINK_LAYOUTS:
                    link = _link(rel, LINK_LAYOUTS[rel], row)
                else:
                    link = Link(rel, row[0], row[1], row[0], {})
                found[(rel, link.key)] = link
        return found

    def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:

        wanted = list(dict.fromkeys(ids))
        found: dict[str, list[Neighbour]] = {node_id: [] for node_id in wanted}
        if not wanted:
            return found
        if rel in LINK_LAYOUTS:
            layout = LINK_LAYOUTS[rel]
            near, far = ("start", "end") if direction == "out" else ("end", "start")
            params = SqlParams()
            conditions = [f"n.{q(near)} IN {IDS}", *params.filters("n", layout, where or {})]
            sql = f"""
SELECT n.{q(near)}, n.{q(far)}, {column_list("n", [*layout.props, Column(EXTRA, "JSON")])}
FROM {q(rel.value)} AS n
WHERE {" AND ".join(conditions)}
"""
            for row in self.query(sql, {**params.params, "ids": wanted}):
                found[row[0]].append((row[1], join_props(layout, row[2:-1], row[-1])))
        elif matches({}, where or {}):  # a reference has no properties to filter
            holder = HOLDERS[rel]
            column = f"n.{q(holder.column)}"
            near, far = ("n.id", column) if direction == "out" else (column, "n.id")
            sql = f"""
SELECT {near}, {far}
FROM {q(holder.label.value)} AS n
WHERE {near} IN {IDS}
  AND {far} IS NOT NULL
"""
            for start, other in self.query(sql, {"ids": wanted}):
                found[start].append((other, {}))
        return {node_id: sorted(pairs, key=neighbour_order) for node_id, pairs in found.items()}

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:

        layout = NODE_LAYOUTS[label]
        if (long := long_id_list(where)) is not None:
            found = self._find_among(label, *long, search, after, limit)
            if found is not None:
                return found
        params = SqlParams()
        matching = _matching(params, layout, where, search)
        count = f"""
SELECT count(*)
FROM {q(label.value)} AS n
WHERE {matching}
"""
        after_id = "TRUE" if after is None else f"n.id > {params.param(after)}"
        page = (
            select_nodes(layout, f"{matching}\n  AND {after_id}")
            + f"ORDER BY n.id\nLIMIT {params.param(max(limit, 0))}\n"
        )
        counted, rows = self._reads([(count, params.params), (page, params.params)])
        return Page([_node(label, layout, row) for row in rows], int(counted[0][0]))

    def _find_among(
        self,
        label: Label,
        wanted: frozenset[str],
        where: dict[str, Any],
        search: str | None,
        after: str | None,
        limit: int,
    ) -> Page | None:
        """``find`` among a long list of ids (``long_id_list``): the ids matching the
        other filters, at most one more than the list holds, kept in Python, then the
        page's rows, in one read. None when more match than the list holds (a listing
        with no search): then binding the list is the cheaper side."""
        layout = NODE_LAYOUTS[label]
        params = SqlParams()
        matching = f"""
SELECT n.id
FROM {q(label.value)} AS n
WHERE {_matching(params, layout, where, search)}
ORDER BY n.id
LIMIT {params.param(len(wanted) + 1)}
"""

        def read(run: Run) -> Page | None:
            ids = [row[0] for row in run(matching, params.params)]
            if len(ids) > len(wanted):
                return None
            page, total = among(ids, wanted, after, limit)
            rows = run(select_nodes(layout, f"n.id IN {IDS}"), {"ids": page}) if page else []
            found = {node.id: node for node in (_node(label, layout, row) for row in rows)}
            return Page([found[i] for i in page], total)

        return self._in_one_read(read)

    def tree(self, label: Label) -> dict[str, TreeEntry]:

        layout = NODE_LAYOUTS[label]
        params = SqlParams()
        parent = HOLDERS[PARENT[label]].column
        kind = params.text("n", layout, "kind")
        sql = f"""
SELECT n.id, n.{q(parent)}, {kind}
FROM {q(label.value)} AS n
"""
        rows = self.query(sql, params.params)
        return {node_id: TreeEntry(up, kind_) for node_id, up, kind_ in rows}

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        limit = MAX_DEPTH if depth is None else min(max(depth, 0), MAX_DEPTH)
        rows = self.query(walk_down(rel), {"ids": wanted, "depth": limit})
        return breadth_first(Below(i, up, int(d), int(n)) for i, up, d, n in rows)

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        if len(wanted) <= FEW_IDS:
            return self._climb(wanted, rels)
        sql, params = walk_up(rels)
        rows = self.query(sql, {**params, "ids": wanted})
        return {i: Above(LABELS[label], name, up) for i, label, name, up in rows}

    def _climb(self, wanted: list[str], rels: Sequence[RelType]) -> dict[str, Above]:
        """``ancestors`` of a few ids, one level at a time, each looked up by id, in one
        read transaction. At city scale each step of the recursive CTE hashes a whole
        tree table (2-3 ms a step), where a lookup by the primary key takes 0.5 ms: a
        responsible chain's two climbs, 40 ms as one query each, take 15 ms. It stops
        ``MAX_DEPTH`` nodes up, as Neo4j's walk does (``chain`` reads no further)."""
        found: dict[str, Above] = {}
        labels: Collection[Label] = list(NODE_LAYOUTS)  # the start may be of any label
        frontier = wanted
        with self._session() as read:
            for _ in range(MAX_DEPTH):
                sql, params = step_up(labels, rels, frontier)
                for node_id, label, name, up in read(sql, params):
                    found[node_id] = Above(LABELS[label], name, up)
                above = {found[i].parent for i in frontier if i in found}
                frontier = [i for i in above if i is not None and i not in found]
                labels = climbed(rels)
                if not frontier or not labels:
                    break
        return found

    @contextmanager
    def _session(self) -> Iterator[Callable[[str, dict[str, Any]], list[Any]]]:
        """Reads that depend on each other's answers, in one read transaction (a view's
        own, which it holds), as ``_reads`` runs a list of them."""
        try:
            if self._pin is not None:
                pin = self._pin
                with self._pin_guard:
                    try:
                        yield lambda sql, params: pin.execute(sql, _bound(sql, params)).fetchall()
                    except duckdb.Error:
                        with suppress(duckdb.Error):  # keep the view answering, as _reads does
                            pin.rollback()
                        pin.begin()
                        raise
                return
            cur = self._own_cursor()
            cur.begin()
            try:
                yield lambda sql, params: cur.execute(sql, _bound(sql, params)).fetchall()
            finally:
                cur.commit()
        except duckdb.Error as exc:
            raise _error(exc) from None

    def elements(self) -> Iterator[Node | Link]:
        if self._pin is not None:  # a view reads its own state: one table at a time, whole
            for label, layout in NODE_LAYOUTS.items():
                (rows,) = self._reads([(select_nodes(layout, "TRUE") + "ORDER BY n.id\n", {})])
                yield from (_node(label, layout, row) for row in rows)
            for rel, link_layout in LINK_LAYOUTS.items():
                (rows,) = self._reads(
                    [(select_links(link_layout, "TRUE") + "ORDER BY n.key\n", {})]
                )
                yield from (_link(rel, link_layout, row) for row in rows)
            return
        cur = self._connection().cursor()  # a cursor of its own: the caller may read between
        try:
            cur.begin()
            for label, layout in NODE_LAYOUTS.items():
                cur.execute(select_nodes(layout, "TRUE") + "ORDER BY n.id\n")
                while rows := cur.fetchmany(10_000):
                    for row in rows:
                        yield _node(label, layout, row)
            for rel, link_layout in LINK_LAYOUTS.items():
                cur.execute(select_links(link_layout, "TRUE") + "ORDER BY n.key\n")
                while rows := cur.fetchmany(10_000):
                    for row in rows:
                        yield _link(rel, link_layout, row)
            cur.commit()
        except duckdb.Error as exc:
            raise _error(exc) from None
        finally:
            cur.close()

    def counts(self) -> dict[str, int]:
        parts = [f"(SELECT count(*) FROM {q(layout.name)})" for layout in LAYOUTS]
        parts += [
            f"(SELECT count({q(h.column)}) FROM {q(h.label.value)})" for h in HOLDERS.values()
        ]
        names = [layout.name for layout in LAYOUTS] + [rel.value for rel in HOLDERS]
        (row,) = self.query("SELECT " + ",\n  ".join(parts))
        found = dict(zip(names, (int(n) for n in row), strict=True))
        order = [label.value for label in Label] + [rel.value for rel in RelType]
        return {name: found[name] for name in order if found.get(name)}

    # -- the Store protocol: writes ----------------------------------------------------

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        tick = progress("writing", len(changes))
        with self.exclusive():
            cur = self._own_cursor()
            try:
                cur.begin()
                try:
                    self._write_nodes(cur, changes)
                    tick(len(changes.nodes))
                    self._write_links(cur, changes)
                    tick(len(changes.links))
                    if changes.audit is not None:
                        append_audit(cur, changes.audit, changes.audit.changes)
                    checkpoint("writing")  # a test-only pause point
                    cur.commit()
                except BaseException:
                    cur.rollback()
                    raise
            except duckdb.Error as exc:
                raise StoreError(
                    f"the embedded store rejected the import, so nothing was written: {exc}"
                ) from None
        self._move_on()

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        rows = self.query(
            f"SELECT key, doc FROM {RECORDS} WHERE kind = $kind ORDER BY key", {"kind": kind}
        )
        return {str(key): orjson.loads(doc) for key, doc in rows}

    def put_record(
        self, kind: str, key: str, doc: dict[str, Any], entry: Entry | None = None
    ) -> None:
        cur = self._own_cursor()
        try:
            cur.begin()
            try:
                cur.execute(
                    f"INSERT OR REPLACE INTO {RECORDS} VALUES ($kind, $key, $doc)",
                    {"kind": kind, "key": key, "doc": orjson.dumps(doc).decode()},
                )
                if entry is not None:
                    append_audit(cur, entry, entry.changes)
                cur.commit()
            except BaseException:
                cur.rollback()
                raise
        except duckdb.Error as exc:
            raise _error(exc) from None
        self._move_on()

    def audit_log(self, since: datetime | None = None, actor: str | None = None) -> list[Entry]:
        rows = self.query(
            f"""
SELECT {", ".join(q(c) for c in COLUMNS)}
FROM {AUDIT}
WHERE ($since IS NULL OR "at" >= $since)
  AND ($actor IS NULL OR actor = $actor)
ORDER BY entry, n
""",
            {"since": since, "actor": actor},
        )
        return entries_of(rows)

    def _write_nodes(self, cur: duckdb.DuckDBPyConnection, changes: Changes) -> None:
        stored = [node.id for node in changes.nodes if node.id not in changes.new]
        if stored:  # a node may have changed its label: drop it from every table
            for layout in NODE_LAYOUTS.values():
                cur.execute(delete_rows(layout), {"ids": stored})
        by_label: dict[Label, list[Node]] = defaultdict(list)
        for node in changes.nodes:
            by_label[node.label].append(node)
        for label, nodes in by_label.items():
            layout = NODE_LAYOUTS[label]
            rows = []
            for node in nodes:
                values, extra = split_props(layout, node.props)
                refs = [node.refs.get(rel) for _, rel in layout.refs]
                rows.append([*values, *refs, extra])
            _insert(cur, layout, rows)

    def _write_links(self, cur: duckdb.DuckDBPyConnection, changes: Changes) -> None:
        by_type: dict[RelType, list[Link]] = defaultdict(list)
        for link in changes.links:
            by_type[link.type].append(link)
        for rel, links in by_type.items():
            layout = LINK_LAYOUTS[rel]
            stored = [ln.key for ln in links if (rel, ln.key) not in changes.new_links]
            if stored:
                cur.execute(delete_rows(layout), {"ids": stored})
            rows = []
            for link in links:
                values, extra = split_props(layout, link.props)
                rows.append([link.key, link.start, link.end, *values, extra])
            _insert(cur, layout, rows)

    def reset(self, entry: Entry | None = None) -> None:
        with self.exclusive():
            cur = self._own_cursor()
            try:
                cur.begin()
                for layout in LAYOUTS:
                    cur.execute(f"DELETE FROM {q(layout.name)}")
                if entry is not None:
                    append_audit(cur, entry, entry.changes)
                cur.commit()
            except duckdb.Error as exc:
                cur.rollback()
                raise _error(exc) from None
        self._move_on()

    def stage(self) -> Staging:
        """A place for an import's validated tables beside this store (its own cursor,
        reading the latest committed state); ``Staging.close`` drops it."""
        cur = self._connection().cursor()
        staging = DuckStaging(self, cur)
        staging.execute(stored_ids_view())
        return staging

    def close(self) -> None:
        """Release the file (for another process); the next read opens it again. On a
        snapshot view: end its read transaction only."""
        if self._pin is not None:
            self._pin.close()
            self._pin = None
            return
        with self._guard:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
            if self._db is not None:
                self._db.close()
                self._db = None
                self._let_go()
            self._epoch += 1

    def __enter__(self) -> DuckStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def append_audit(cur: duckdb.DuckDBPyConnection, entry: Entry, changes: Iterable[Change]) -> None:
    """Insert ``entry`` with ``changes`` into the audit log, in ``cur``'s transaction."""
    rows = rows_of(entry, changes)
    while chunk := list(itertools.islice(rows, BATCH)):
        columns = list(zip(*chunk, strict=True))
        cur.execute(
            f"INSERT INTO {AUDIT} SELECT "
            + ", ".join(f"UNNEST($c{i})" for i in range(len(COLUMNS))),
            {f"c{i}": list(values) for i, values in enumerate(columns)},
        )


def _insert(cur: duckdb.DuckDBPyConnection, layout: Layout, rows: list[list[Any]]) -> None:
    """Insert ``rows`` (in table column order), each column as one list parameter."""
    sql = insert_rows(layout)
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        columns = list(zip(*chunk, strict=True))
        cur.execute(sql, {f"c{i}": list(values) for i, values in enumerate(columns)})


def _node(label: Label, layout: Layout, row: Sequence[Any]) -> Node:
    width = len(layout.props)
    props = join_props(layout, row[:width], row[-1])
    refs = {rel: end for (_, rel), end in zip(layout.refs, row[width:-1], strict=True) if end}
    return Node(label, props, refs)


def _link(rel: RelType, layout: Layout, row: Sequence[Any]) -> Link:
    key, start, end = row[0], row[1], row[2]
    return Link(rel, start, end, key, join_props(layout, row[3:-1], row[-1]))


def _matching(
    params: SqlParams, layout: Layout, where: dict[str, Any] | None, search: str | None
) -> str:
    """``find``'s test of a row: the filters, and the name containing ``search``."""
    conditions = params.filters("n", layout, where or {})
    if search:
        name = params.text("n", layout, "name")
        conditions.append(f"contains(lower({name}), {params.param(search.lower())})")
    return " AND ".join(conditions) or "TRUE"


def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names (DuckDB refuses any it does not)."""
    named = set(PARAMETER.findall(sql))
    return {name: value for name, value in params.items() if name in named}


def _pid_in(message: str) -> str:
    """The holder's pid from DuckDB's message (``... held in /usr/bin/python (PID 7)``)."""
    if "PID" in message:
        return "PID " + message.split("PID", 1)[1].strip(" )").split(")")[0]
    return "pid unknown"


def _alive(record: dict[str, Any]) -> bool:
    """Whether the process a holder record names still runs (on another host: assumed)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = record.get("pid")
    return not isinstance(pid, int) or process_alive(pid)


def _error(exc: duckdb.Error) -> StoreError:
    if isinstance(exc, duckdb.IOException):
        return StoreUnavailable(
            f"the embedded store could not be read: {exc}. Check that GRASSROOTS_DATA is"
            " on a disk with room and that no other program changes the file."
        )
    return StoreError(f"the embedded store could not answer: {exc}")


# -- an import's validated tables, staged beside the store: checks, diff and write in SQL --

STORED_IDS = "stored_ids"
"""A view of every stored node's id and label, for an import's checks."""


def stored_ids_view() -> str:
    parts = [f"SELECT id, '{label.value}' AS label FROM main.{q(label.value)}" for label in Label]
    return f"CREATE OR REPLACE TEMP VIEW {STORED_IDS} AS\n" + "\nUNION ALL\n".join(parts)


def staged_name(table: Table) -> str:
    return q(f"staged_{table.name}")


def staged_columns(table: Table) -> list[Column]:
    """A staged table: the row number, every model field typed as its store column, and
    the kept unknown cells as JSON text."""
    fields = [
        Column(name, sql_type(info.annotation)) for name, info in table.model.model_fields.items()
    ]
    return [Column("_row", "BIGINT"), *fields, Column("_extra", "VARCHAR")]


def link_key(table: Table, alias: str) -> str:
    """A link's key in SQL, as ``Table.to_element`` makes it: the key columns' values
    joined by ``|``, an empty one as empty text (days in ISO form)."""
    parts = [f"coalesce(CAST({alias}.{q(c)} AS VARCHAR), '')" for c in table.key]
    return " || '|' || ".join(parts)


@dataclass
class StagedTable:
    table: Table
    rows: int


READ_CSV = """
CREATE OR REPLACE TEMP TABLE {name} AS
SELECT *
FROM read_csv(
  $path,
  columns = $columns,
  header = false,
  auto_detect = false,
  delim = ',',
  quote = '"',
  escape = '"',
  strict_mode = true,
  null_padding = true,
  parallel = false
)
"""
"""Python's ``csv`` module's dialect, strictly: a record with more cells than the header
fails the read (so that Python's reader reports it), one with fewer is padded with
nulls. One thread: DuckDB pads rows only so when a quoted cell holds a line break; and
the rows keep the file's order, so the table's ``rowid + 1`` is a record's number."""


class Staging:
    """An import's validated tables as temporary tables of one DuckDB cursor, so that
    checking them against what is stored, diffing and writing are set operations. The
    tables vanish with the cursor (``close``).

    What is stored is read through tables named as the store's (``main."Area"``...)
    holding at least ``id`` (or a link's ``key``), a tree's parent column and an area's
    ``kind``: the store's own tables for the embedded store (``DuckStaging``), a copy of
    what the checks need, read in bulk, for another store (``Neo4jStaging`` in
    ``graph.neo4j``). That, how a row's fate is found (``classify``) and the write are
    all that differ; the checks (``importers.ledger``) and their messages are one."""

    def __init__(self, cur: duckdb.DuckDBPyConnection) -> None:
        self.cur = cur
        self.tables: list[StagedTable] = []
        self.rehash = 0
        """How many unchanged rows ``diff`` found whose mark (``rehash``) ``write`` must
        still write: an import that changes nothing may have these to write."""

    def add(
        self,
        table: Table,
        numbers: list[int],
        values: dict[str, list[Any]],
        extra: list[str | None],
    ) -> None:
        """Stage rows given column by column (``values[column][i]`` is row ``numbers[i]``'s)."""
        columns = self._create(table)
        data = [numbers, *(values[c.name] for c in columns[1:-1]), extra]
        sql = f"""
INSERT INTO {staged_name(table)}
SELECT {", ".join(f"UNNEST($c{i}::{c.type}[])" for i, c in enumerate(columns))}
"""
        for start in range(0, len(numbers), BATCH):
            self.execute(sql, {f"c{i}": d[start : start + BATCH] for i, d in enumerate(data)})
        self._count(table, len(numbers))

    def add_select(self, table: Table, select: str, params: dict[str, Any] | None = None) -> int:
        """Stage the rows a query over other temporary tables gives, in ``staged_columns``
        order, without their values passing through Python; how many they were."""
        columns = self._create(table)
        names = ", ".join(q(c.name) for c in columns)
        # DuckDB answers an INSERT with the number of rows it inserted
        ((count,),) = self.execute(f"INSERT INTO {staged_name(table)} ({names})\n{select}", params)
        self._count(table, int(count))
        return int(count)

    def _create(self, table: Table) -> list[Column]:
        """The table's staged table, created empty unless it is there already."""
        columns = staged_columns(table)
        if not any(t.table is table for t in self.tables):
            lines = ",\n  ".join(f"{q(c.name)} {c.type}" for c in columns)
            self.execute(f"CREATE OR REPLACE TEMP TABLE {staged_name(table)} (\n  {lines}\n)")
            self.tables.append(StagedTable(table, 0))
        return columns

    def _count(self, table: Table, rows: int) -> None:
        for staged in self.tables:
            if staged.table is table:
                staged.rows += rows

    def read_csv(self, name: str, path: Path, width: int) -> bool:
        """Read a CSV file into the temporary table ``name``: every record as it is (the
        header too, ``rowid`` 0), as ``width`` text columns ``c0``...; False when DuckDB's
        reader refuses the file."""
        columns = {f"c{i}": "VARCHAR" for i in range(width)}
        try:
            self.cur.execute(READ_CSV.format(name=name), {"path": str(path), "columns": columns})
        except duckdb.Error:
            return False
        return True

    def read_store(self) -> None:
        """Bring in what the checks and the diff read of the store; called inside the
        import's critical section, so that it is the state the write will change."""

    def stored_tree(self, label: Label) -> str:
        """A query of the stored tree of areas or party orgs, as ``DuckStore.tree`` reads
        it: ``id``, ``parent`` and (areas only) ``kind``."""
        parent = HOLDERS[PARENT[label]].column
        kind = "n.kind" if label is Label.AREA else "NULL"
        return (
            f"SELECT n.id, n.{q(parent)} AS parent, CAST({kind} AS VARCHAR) AS kind\n"
            f"FROM main.{q(label.value)} AS n"
        )

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            return self.cur.execute(sql, _bound(sql, params or {})).fetchall()
        except duckdb.Error as exc:
            raise self.failed(exc) from None

    def failed(self, exc: duckdb.Error) -> StoreError:
        """What a user is told when the staging database fails: here, the store's own."""
        return _error(exc)

    def close(self) -> None:
        with suppress(duckdb.Error):
            self.cur.close()

    # -- the diff: what is created, updated, unchanged ---------------------------------

    def _layout(self, table: Table) -> Layout:
        if table.label is not None:
            return NODE_LAYOUTS[table.label]
        assert table.rel is not None
        return LINK_LAYOUTS[table.rel]

    def staged_parts(self, table: Table) -> list[str]:
        """A staged table's row in the store's column order (``_node`` / ``_link`` read
        it), as SQL expressions over the alias ``s``."""
        layout = self._layout(table)
        props = [f"s.{q(c.name)}" for c in layout.props]
        if table.is_node:
            head = [*props, *(f"s.{q(name)}" for name, _ in layout.refs)]
        else:
            ends = [f"s.{q(ref.column)}" for ref in table.refs]
            head = [link_key(table, "s"), *ends, *props]
        return [*head, "CAST(s._extra AS JSON)"]

    def _staged_select(self, table: Table) -> str:
        return ", ".join(self.staged_parts(table))

    def classify(self, table: Table, changed: str) -> None:
        """Create the temporary table ``changed``: per staged row (or per row that is not
        unchanged: the tallies count the rest as unchanged), ``_row``, ``_key`` and
        ``status`` (``created``, ``updated``, ``unchanged``; ``rehash``, which a store may
        use for a row that is unchanged but must be marked so)."""
        raise NotImplementedError

    def diff(self) -> dict[str, tuple[int, int, int]]:
        """Per staged table, how many rows are created, updated and unchanged; the fate
        of each row that is not unchanged is kept (``changed_TABLE``) for ``write``, with
        the stored row's id or key as ``_key``. Only those are kept, since a re-import
        of a city leaves most rows as they were."""
        tallies: dict[str, tuple[int, int, int]] = {}
        for staged in self.tables:
            table = staged.table
            changed = changed_name(table)
            self.classify(table, changed)
            counts = dict(self.execute(f"SELECT status, count(*) FROM {changed} GROUP BY status"))
            self.rehash += int(counts.get("rehash", 0))
            created, updated = int(counts.get("created", 0)), int(counts.get("updated", 0))
            # a store may leave its unchanged rows out of ``changed`` (the embedded one does)
            tallies[table.name] = (created, updated, staged.rows - created - updated)
        return tallies

    def updated_rows(
        self, table: Table, changed: str, where: str, after: int = 0, limit: int | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows ``classify`` found updated that ``where`` (over ``c``, the changed
        row, and ``s``) doubts, each as ``_row`` and then the store's column order; in
        row order from after row ``after``, at most ``limit`` of them if given."""
        return self.execute(
            f"""
SELECT c._row, {self._staged_select(table)}
FROM {changed} AS c
JOIN {staged_name(table)} AS s ON s._row = c._row
WHERE c.status = 'updated'
  AND {where}
  AND c._row > $after
ORDER BY c._row
LIMIT $limit
""",
            {"after": after, "limit": limit},
        )

    def mark(self, changed: str, rows: list[int], status: str) -> None:
        if rows:
            self.execute(
                f"UPDATE {changed}\nSET status = $status\n"
                "WHERE _row IN (SELECT UNNEST($rows::BIGINT[]))",
                {"rows": rows, "status": status},
            )

    def element(self, table: Table, row: Sequence[Any]) -> Node | Link:
        layout = self._layout(table)
        if table.label is not None:
            return _node(table.label, layout, row)
        assert table.rel is not None
        return _link(table.rel, layout, row)

    def write(self, progress: Progress = silent, audit: Entry | None = None) -> None:
        """Write the rows ``diff`` found created or updated (or to be rehashed), and
        append ``audit`` with a change for each (``audited``)."""
        raise NotImplementedError

    def audited(self, stored: Store) -> Iterator[Change]:
        """A change for each row ``diff`` found created or updated, its value before read
        from ``stored``: streamed, ``BATCH`` rows at a time, so that an import of a city
        holds no list of its million changes. Read before the write, so ``before`` is
        the store's state before it."""
        for staged in self.tables:
            for offset in range(0, self.changed_count(staged.table), BATCH):
                yield from self.audited_part(stored, staged.table, offset, BATCH)

    def changed_count(self, table: Table) -> int:
        ((count,),) = self.execute(
            f"SELECT count(*) FROM {changed_name(table)} WHERE status IN ('created', 'updated')"
        )
        return int(count)

    def audited_part(self, stored: Store, table: Table, offset: int, limit: int) -> list[Change]:
        """The changes of ``table``'s created and updated rows ``offset`` to
        ``offset + limit``, in row order."""
        rows = self.execute(
            f"""
SELECT c.status = 'updated', {self._staged_select(table)}
FROM {changed_name(table)} AS c
JOIN {staged_name(table)} AS s ON s._row = c._row
WHERE c.status IN ('created', 'updated')
ORDER BY c._row
LIMIT $limit OFFSET $offset
""",
            {"limit": limit, "offset": offset},
        )
        new = [(bool(row[0]), self.element(table, row[1:])) for row in rows]
        old = self._stored(stored, [e for updated, e in new if updated])
        return [change_of(old.get(e.id if isinstance(e, Node) else e.key), e) for _, e in new]

    @staticmethod
    def _stored(stored: Store, elements: list[Node | Link]) -> dict[str, Node | Link]:
        """The stored versions of ``elements``, by id or key (ids and link keys do not
        meet: a key joins several columns' values)."""
        nodes = [e.id for e in elements if isinstance(e, Node)]
        links = [(e.type, e.key) for e in elements if isinstance(e, Link)]
        found: dict[str, Node | Link] = dict(stored.nodes(nodes)) if nodes else {}
        if links:
            found.update((key, link) for (_, key), link in stored.links(links).items())
        return found


def changed_name(table: Table) -> str:
    return q(f"changed_{table.name}")


class DuckStaging(Staging):
    """The embedded store's staging: temporary tables beside the store's own."""

    def __init__(self, store: DuckStore, cur: duckdb.DuckDBPyConnection) -> None:
        super().__init__(cur)
        self.store = store

    def classify(self, table: Table, changed: str) -> None:
        layout = self._layout(table)
        mine = [f"s.{q(c.name)}" for c in layout.props]
        theirs = [f"n.{q(c.name)}" for c in layout.props]
        if table.is_node:
            mine += [f"s.{q(name)}" for name, _ in layout.refs]
            theirs += [f"n.{q(name)}" for name, _ in layout.refs]
        else:
            mine += [f"s.{q(ref.column)}" for ref in table.refs]
            theirs += ['n."start"', 'n."end"']
        mine.append("s._extra")
        theirs.append("CAST(n.extra AS VARCHAR)")
        same = "\n   AND ".join(
            f"{a} IS NOT DISTINCT FROM {b}" for a, b in zip(mine, theirs, strict=True)
        )
        stored_key = "n.id" if table.is_node else "n.key"
        self.execute(f"""
CREATE OR REPLACE TEMP TABLE {changed} AS
SELECT *
FROM (
  SELECT s._row, {stored_key} AS _key,
    CASE WHEN {stored_key} IS NULL THEN 'created'
         WHEN {same} THEN 'unchanged'
         ELSE 'updated' END AS status,
    n.extra IS NOT NULL AS stored_extra
  FROM {staged_name(table)} AS s
  LEFT JOIN main.{q(layout.name)} AS n ON {self._same_key(table)}
)
WHERE status <> 'unchanged'
""")
        self._settle_extras(table, changed)

    def _same_key(self, table: Table) -> str:
        """A staged row and a stored one (``s``, ``n``) have the same id or key. A link's
        key joins its key columns' values (``link_key``), but its parts are compared
        here, where the stored ones are columns of their own (the ends, ``start`` and
        ``end``): building the key text for a city's links costs more than the join."""
        if table.is_node:
            return "n.id = s.id"
        ends = {ref.column: end for ref, end in zip(table.refs, ("start", "end"), strict=True)}
        required = set(table.required())
        return " AND ".join(
            f"n.{q(ends.get(c, c))} {'=' if c in required else 'IS NOT DISTINCT FROM'} s.{q(c)}"
            for c in table.key
        )

    def _settle_extras(self, table: Table, changed: str) -> None:
        """An updated row whose stored version has ``extra`` JSON may differ only in how
        that JSON is spelt (key order): compare those few as the elements they read as."""
        layout = self._layout(table)
        stored_key = "n.id" if table.is_node else "n.key"
        stored = select_nodes(layout, "TRUE") if table.is_node else select_links(layout, "TRUE")
        same: list[int] = []
        for row in self.updated_rows(table, changed, "c.stored_extra"):
            new = self.element(table, row[1:])
            key = new.key if isinstance(new, Link) else new.id
            found = self.execute(
                stored.replace("WHERE TRUE", f"WHERE {stored_key} = $key"), {"key": key}
            )
            if found and self.element(table, found[0]) == new:
                same.append(int(row[0]))
        self.mark(changed, same, "unchanged")

    # -- the write: one transaction ----------------------------------------------------

    def write(self, progress: Progress = silent, audit: Entry | None = None) -> None:
        """Write the rows ``diff`` found created or updated, and ``audit``, all in one
        transaction."""
        total = sum(t.rows for t in self.tables)
        tick = progress("writing", total)
        try:
            self.cur.begin()
            try:
                if audit is not None:  # first: each change's before is what is stored now
                    append_audit(self.cur, audit, self.audited(self.store))
                for staged in self.tables:
                    self._write_table(staged.table)
                    tick(staged.rows)
                checkpoint("writing")  # a test-only pause point
                self.cur.commit()
            except BaseException:
                self.cur.rollback()
                raise
        except duckdb.Error as exc:
            raise StoreError(
                f"the embedded store rejected the import, so nothing was written: {exc}"
            ) from None
        self.store._move_on()

    def _write_table(self, table: Table) -> None:
        layout = self._layout(table)
        changed = changed_name(table)
        stored_key = "id" if table.is_node else "key"
        self.cur.execute(f"""
DELETE FROM main.{q(layout.name)}
WHERE {q(stored_key)} IN (SELECT _key FROM {changed} WHERE status = 'updated')
""")
        names = ", ".join(q(c.name) for c in layout.columns())
        self.cur.execute(f"""
INSERT INTO main.{q(layout.name)} ({names})
SELECT {self._staged_select(table)}
FROM {staged_name(table)} AS s
JOIN {changed} AS c ON c._row = s._row
WHERE c.status <> 'unchanged'
""")
