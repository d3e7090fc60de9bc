"""The embedded store through a running ``grassroots serve``: the hand-off.

DuckDB admits one process per file, and ``grassroots serve`` holds its file for as long
as it runs. So a CLI command (``import``, ``coverage``, ``export``, ``reset``) whose
store is held by a live serve does not open the file: it talks to that serve instead,
through ``ServedStore``, which implements the ``Store`` protocol over loopback HTTP to
private endpoints (``grassroots.api.local``; no part of the GraphQL schema). The
command runs unchanged (its validation, diff and report happen in the CLI), and serve
answers the new state as soon as the write has committed.

Finding the server: ``serve.json`` in the data folder (``grassroots.graph.serve_file``).

What each call sees. Every call is answered by the server from one committed state; a
``ServedStore`` has no server-side view, so its ``snapshot()`` is itself, and the
several reads of one coverage report may straddle an import that commits between them
(as on Neo4j). The import's critical section (``exclusive()``) is a lease on the
server: the server holds its store's ``exclusive()`` on a thread of its own, runs the
lease holder's calls there, and lets go when the client releases it or stops renewing
it (``LEASE_SECONDS``), so a killed CLI never keeps the store locked.

Wire shapes. Nodes and links travel as their own fields (``label, props, refs`` and
``type, start, end, key, props``), in orjson; their properties are JSON values already.
SQL parameters and rows may hold days and decimals, which travel tagged
(``{"$date": "2026-06-30"}``) so that they come back as the same Python values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson

from grassroots import errors
from grassroots.errors import GrassrootsError, StoreError, StoreUnavailable
from grassroots.graph.serve_file import PREFIX, HandOff, Server, announced, handing_off, running
from grassroots.graph.store import (
    Above,
    Below,
    Changes,
    Direction,
    Neighbour,
    Page,
    TreeEntry,
    checkpoint,
)
from grassroots.progress import Progress, silent
from grassroots.schema import Label, Link, Node, RelType
from grassroots.schema.audit import Entry

LEASE_HEADER = "x-grassroots-lease"
LEASE_SECONDS = 15.0  # a lease not renewed for this long is let go (its client died)
RENEW_SECONDS = 2.0


# -- the wire ----------------------------------------------------------------------------


def node_out(node: Node) -> list[Any]:
    return [node.label.value, node.props, {rel.value: end for rel, end in node.refs.items()}]


def node_in(wire: list[Any]) -> Node:
    label, props, refs = wire
    return Node(Label(label), props, {RelType(rel): end for rel, end in refs.items()})


def link_out(link: Link) -> list[Any]:
    return [link.type.value, link.start, link.end, link.key, link.props]


def link_in(wire: list[Any]) -> Link:
    rel, start, end, key, props = wire
    return Link(RelType(rel), start, end, key, props)


def changes_out(changes: Changes) -> dict[str, Any]:
    return {
        "nodes": [node_out(n) for n in changes.nodes],
        "links": [link_out(ln) for ln in changes.links],
        "new": sorted(changes.new),
        "new_links": sorted([rel.value, key] for rel, key in changes.new_links),
        "audit": entry_out(changes.audit),
    }


def entry_out(entry: Entry | None) -> dict[str, Any] | None:
    return None if entry is None else entry.model_dump(mode="json")


def entry_in(wire: dict[str, Any] | None) -> Entry | None:
    return None if wire is None else Entry.model_validate(wire)


def changes_in(wire: dict[str, Any]) -> Changes:
    return Changes(
        nodes=[node_in(n) for n in wire["nodes"]],
        links=[link_in(ln) for ln in wire["links"]],
        new=set(wire["new"]),
        new_links={(RelType(rel), key) for rel, key in wire["new_links"]},
        audit=entry_in(wire.get("audit")),  # a CLI of an earlier version sends none
    )


def _tag(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    raise TypeError(f"{type(value).__name__} cannot be sent to the server")


UNTAG: dict[str, Callable[[str], Any]] = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$decimal": Decimal,
}


def tagged(value: Any) -> bytes:
    """``value`` as JSON, days and decimals tagged (see the module's docstring)."""
    return orjson.dumps(value, default=_tag, option=orjson.OPT_PASSTHROUGH_DATETIME)


def untagged(value: Any) -> Any:
    """The inverse of ``tagged`` (after ``orjson.loads``)."""
    if isinstance(value, list):
        return [untagged(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in UNTAG and isinstance(inner, str):
                return UNTAG[key](inner)
        return {k: untagged(v) for k, v in value.items()}
    return value


ERRORS: dict[str, type[GrassrootsError]] = {
    name: kind
    for name, kind in vars(errors).items()
    if isinstance(kind, type) and issubclass(kind, GrassrootsError) and name != "LedgerError"
}
"""The errors the server may answer with, by name: raised again in the client."""


# -- the client store --------------------------------------------------------------------


class ServedStore:
    """The ``Store`` protocol, answered by a running ``grassroots serve``."""

    # A name of its own: coverage compiles to the local store's SQL for it too (the SQL
    # evaluator is registered under both names), while an import takes the row path over
    # the protocol, since the local store's staged path needs the file itself.
    name = "served"

    def __init__(self, server: Server, lock_seconds: float = 60.0) -> None:
        self.server = server
        self.lock_seconds = lock_seconds
        # a write or a long report may take minutes; connecting may not
        self._http = httpx.Client(
            base_url=server.url + PREFIX,
            headers=server.headers,
            timeout=httpx.Timeout(3600.0, connect=10.0),
        )
        self._local = threading.local()  # this thread's lease, if it holds one

    # -- calls -------------------------------------------------------------------------

    def _call(self, op: str, doing: str, body: bytes = b"{}") -> Any:
        headers = {}
        lease = getattr(self._local, "lease", None)
        if lease is not None:
            headers[LEASE_HEADER] = lease
        try:
            answer = self._http.post(f"/{op}", content=body, headers=headers)
        except httpx.HTTPError:
            raise self._stopped(doing) from None
        return self._answer(answer, doing)

    def _answer(self, answer: httpx.Response, doing: str) -> Any:
        if answer.status_code == 200:
            return orjson.loads(answer.content)
        try:
            error = orjson.loads(answer.content)
            kind, message = ERRORS.get(error["error"], StoreError), str(error["message"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            kind, message = StoreError, answer.text[:200]
        raise kind(f"{message} (said the running grassroots serve at {self.server.url})")

    def _stopped(self, doing: str) -> StoreUnavailable:
        return StoreUnavailable(
            f"the running grassroots serve at {self.server.url} (pid {self.server.pid})"
            f" stopped while {doing}; run this again"
        )

    # -- reads -------------------------------------------------------------------------

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        body = {"ids": list(ids), "label": label.value if label else None}
        found = self._call("nodes", "reading", orjson.dumps(body))
        return {node.id: node for node in map(node_in, found)}

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        wanted = [[rel.value, key] for rel, key in keys]
        found = self._call("links", "reading", orjson.dumps({"keys": wanted}))
        return {(link.type, link.key): link for link in map(link_in, found)}

    def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        body = orjson.dumps(
            {"ids": list(ids), "rel": rel.value, "direction": direction, "where": where}
        )
        found = self._call("neighbours", "reading", body)
        return {node_id: [(o, p) for o, p in pairs] for node_id, pairs in found.items()}

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        body = {"label": label.value, "where": where, "search": search, "after": after}
        found = self._call("find", "reading", tagged({**body, "limit": limit}))
        return Page([node_in(n) for n in found["nodes"]], int(found["total"]))

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        found = self._call("tree", "reading", orjson.dumps({"label": label.value}))
        return {node_id: TreeEntry(up, kind) for node_id, (up, kind) in found.items()}

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        body = orjson.dumps({"ids": list(ids), "rel": rel.value, "depth": depth})
        return [Below(*row) for row in self._call("descendants", "reading", body)]

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        body = orjson.dumps({"ids": list(ids), "rels": [rel.value for rel in rels]})
        found = self._call("ancestors", "reading", body)
        return {i: Above(Label(label), name, up) for i, (label, name, up) in found.items()}

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = self._call("counts", "reading")
        return counted

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """One SQL read, run by the server's store (the coverage evaluator's reads)."""
        rows = self._call("query", "reading", tagged({"sql": sql, "params": params or {}}))
        return [tuple(row) for row in untagged(rows)]

    def elements(self) -> Iterator[Node | Link]:
        """Streamed: one line per node or link, read from one committed state."""
        try:
            with self._http.stream("POST", "/elements", content=b"{}") as answer:
                if answer.status_code != 200:
                    answer.read()
                    self._answer(answer, "exporting")
                for line in answer.iter_lines():
                    kind, wire = orjson.loads(line)
                    yield node_in(wire) if kind == "node" else link_in(wire)
        except httpx.HTTPError:
            raise self._stopped("exporting") from None

    def snapshot(self) -> ServedStore:
        return self  # every call reads one committed state (see the module's docstring)

    # -- the critical section and writes -----------------------------------------------

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """A lease on the server's critical section, renewed while held; re-entered by
        this thread's own write."""
        if getattr(self._local, "lease", None) is not None:
            yield
            return
        wait = self.lock_seconds if timeout is None else timeout
        taken = self._call("lease", "waiting for another import", orjson.dumps({"wait": wait}))
        lease = str(taken["lease"])
        self._local.lease = lease
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lease, stop), daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            self._local.lease = None
            with suppress(GrassrootsError):  # the server lets go of it anyway, soon
                self._call("release", "letting go", orjson.dumps({"lease": lease}))

    def _renew(self, lease: str, stop: threading.Event) -> None:
        while not stop.wait(RENEW_SECONDS):
            try:
                self._http.post("/renew", content=orjson.dumps({"lease": lease}))
            except httpx.HTTPError:
                return  # the next call says that serve stopped

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        tick = progress("writing", len(changes))
        with self.exclusive():
            checkpoint("writing")  # a test-only pause point: the server writes next
            self._call("write", "writing (all or nothing)", orjson.dumps(changes_out(changes)))
        tick(len(changes))

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = self._call(
            "records", "reading", orjson.dumps({"kind": kind})
        )
        return found

    def put_record(
        self, kind: str, key: str, doc: dict[str, Any], entry: Entry | None = None
    ) -> None:
        body = orjson.dumps({"kind": kind, "key": key, "doc": doc, "audit": entry_out(entry)})
        self._call("put_record", "saving", body)

    def generation(self) -> object:
        return self._call("generation", "reading")

    def audit_log(self, since: datetime | None = None, actor: str | None = None) -> list[Entry]:
        body = {"since": since.isoformat() if since else None, "actor": actor}
        found = self._call("audit_log", "reading the audit log", orjson.dumps(body))
        return [Entry.model_validate(doc) for doc in found]

    def reset(self, entry: Entry | None = None) -> None:
        with self.exclusive():
            self._call("reset", "emptying the store", orjson.dumps({"audit": entry_out(entry)}))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServedStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = [
    "PREFIX",
    "HandOff",
    "ServedStore",
    "Server",
    "announced",
    "entry_in",
    "handing_off",
    "running",
]
