"""The server's side of the hand-off (``grassroots.graph.served``): private endpoints
under ``/_local`` through which a CLI command uses the store this serve holds.

They are served apart from the API (``serving``): by a second HTTP server in the same
process, on a loopback port of its own and its own event loop. So ``serve --host
0.0.0.0`` never exposes them, and a GraphQL request that waits on the event loop (a
mutation waiting for the critical section that a CLI's lease holds) cannot stall the
CLI's calls, which would keep that lease from ever being released. Only this
machine's processes that know the secret of ``serve.json`` are answered: another
address is refused (403), a wrong or missing secret gets 401. The endpoints are no
part of the GraphQL schema.

Store calls run on worker threads, never on the event loop, so serve keeps answering
GraphQL while a CLI reads or writes. A lease (the CLI's ``exclusive()``) is a thread of
its own that holds the store's critical section and runs the lease holder's calls, so
the store's own re-entrant critical section sees one owner throughout; it ends when the
client releases it, or when it has not been renewed for ``LEASE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import duckdb
import orjson
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from grassroots.errors import GrassrootsError, StoreError
from grassroots.graph.duck import DuckStore
from grassroots.graph.served import (
    LEASE_HEADER,
    LEASE_SECONDS,
    PREFIX,
    changes_in,
    entry_in,
    link_out,
    node_out,
    tagged,
    untagged,
)
from grassroots.schema import Label, Link, RelType

log = logging.getLogger("grassroots.local")

LOOPBACK = {"127.0.0.1", "::1", "localhost"}

Call = Callable[[], Any]


class Lease:
    """One client's hold on the store's critical section, on a thread of its own."""

    def __init__(self, store: DuckStore, wait: float) -> None:
        self.store = store
        self.wait = wait
        self.acquired: Future[None] = Future()
        self.renewed = time.monotonic()
        self._jobs: queue.Queue[tuple[Call, Future[Any]] | None] = queue.Queue()
        self._closed = False
        self._guard = threading.Lock()
        threading.Thread(target=self._hold, name="grassroots-lease", daemon=True).start()

    @property
    def closed(self) -> bool:
        with self._guard:
            return self._closed

    def _hold(self) -> None:
        try:
            with self.store.exclusive(self.wait):
                self.renewed = time.monotonic()  # the wait for the section is no idle time
                self.acquired.set_result(None)
                self._serve()
        except BaseException as exc:  # handed to the waiting request, not lost
            if not self.acquired.done():
                self.acquired.set_exception(exc)
            else:
                log.warning("a lease ended on an error: %s", exc)
        finally:
            self.store.leave_thread()
            with self._guard:
                self._closed = True
            while True:  # anything submitted meanwhile learns that the lease is gone
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    job[1].set_exception(_expired())

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() - self.renewed > LEASE_SECONDS:
                    log.warning("a CLI's lease on the store was not renewed; let go of it")
                    return
                continue
            if job is None:
                return
            call, future = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            self.renewed = time.monotonic()

    def run(self, call: Call) -> Future[Any]:
        future: Future[Any] = Future()
        with self._guard:
            if self._closed:
                future.set_exception(_expired())
            else:
                self._jobs.put((call, future))
        return future

    def release(self) -> None:
        self._jobs.put(None)


def _expired() -> StoreError:
    return StoreError(
        "this command's hold on the store ended (it was not renewed in time); run it again"
    )


def _error(exc: BaseException) -> Response:
    if isinstance(exc, GrassrootsError):
        name, message = type(exc).__name__, str(exc)
    else:
        log.exception("a hand-off call failed", exc_info=exc)
        name, message = "StoreError", f"the server failed: {type(exc).__name__}: {exc}"
    return Response(orjson.dumps({"error": name, "message": message}), 409, media_type=JSON)


JSON = "application/json"
MALFORMED = StoreError("a malformed hand-off request (is the CLI the same version as serve?)")


def _field(body: bytes, name: str) -> Any:
    try:
        return orjson.loads(body)[name]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise MALFORMED from None


def local_router(store: DuckStore, secret: str) -> APIRouter:
    """The ``/_local`` endpoints over ``store``, answering holders of ``secret``."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    leases: dict[str, Lease] = {}
    expected = f"Bearer {secret}".encode()

    def refused(request: Request) -> Response | None:
        client = request.client.host if request.client else ""
        server = request.scope.get("server") or ("",)
        if client not in LOOPBACK and client != server[0]:
            return Response(b"only this machine's processes", 403)
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(b"unknown secret", 401)
        return None

    def calls(payload: Any) -> dict[str, Call]:
        """Each operation, bound to its request's payload."""
        p = payload
        return {
            "nodes": lambda: [
                node_out(n) for n in store.nodes(p["ids"], _label(p.get("label"))).values()
            ],
            "links": lambda: [
                link_out(ln) for ln in store.links([(RelType(r), k) for r, k in p["keys"]]).values()
            ],
            "neighbours": lambda: store.neighbours(
                p["ids"], RelType(p["rel"]), p["direction"], p.get("where")
            ),
            "find": lambda: _page(store, p),
            "tree": lambda: {
                i: [e.parent, e.kind] for i, e in store.tree(Label(p["label"])).items()
            },
            "descendants": lambda: [  # rows as lists: orjson refuses named tuples
                list(row) for row in store.descendants(p["ids"], RelType(p["rel"]), p["depth"])
            ],
            "ancestors": lambda: {
                i: [a.label.value, a.name, a.parent]
                for i, a in store.ancestors(p["ids"], [RelType(r) for r in p["rels"]]).items()
            },
            "counts": store.counts,
            "generation": store.generation,
            "query": lambda: _query(store, p),
            "write": lambda: store.write(changes_in(p)),
            "reset": lambda: store.reset(entry_in(p.get("audit"))),
            "records": lambda: store.records(p["kind"]),
            "put_record": lambda: store.put_record(
                p["kind"], p["key"], p["doc"], entry_in(p.get("audit"))
            ),
            "audit_log": lambda: [
                entry.model_dump(mode="json")
                for entry in store.audit_log(
                    datetime.fromisoformat(p["since"]) if p["since"] else None, p["actor"]
                )
            ],
        }

    @router.post("/ping")
    async def ping(request: Request) -> Response:
        held = {"pid": os.getpid(), "data": str(store.data.resolve())}  # which folder it holds
        return refused(request) or Response(orjson.dumps(held), media_type=JSON)

    @router.post("/lease")
    async def take(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            wait = float(_field(await request.body(), "wait"))
            lease = Lease(store, wait)
            await asyncio.wrap_future(lease.acquired)
        except BaseException as exc:
            return _error(exc)
        for ended in [name for name, held in leases.items() if held.closed]:
            del leases[ended]  # expired or failed without a release
        name = uuid.uuid4().hex
        leases[name] = lease
        return Response(orjson.dumps({"lease": name}), media_type=JSON)

    @router.post("/renew")
    async def renew(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            lease = leases.get(str(_field(await request.body(), "lease")))
        except StoreError as exc:
            return _error(exc)
        if lease is None:
            return _error(_expired())
        lease.renewed = time.monotonic()
        return Response(b"null", media_type=JSON)

    @router.post("/release")
    async def release(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            lease = leases.pop(str(_field(await request.body(), "lease")), None)
        except StoreError as exc:
            return _error(exc)
        if lease is not None:
            lease.release()
        return Response(b"null", media_type=JSON)

    @router.post("/elements")
    async def elements(request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        return StreamingResponse(_lines(store), media_type="application/x-ndjson")

    @router.post("/{op}")
    async def call(op: str, request: Request) -> Response:
        if (refusal := refused(request)) is not None:
            return refusal
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(MALFORMED)
        operation = calls(untagged(payload) if op in ("find", "query") else payload).get(op)
        if operation is None:
            return Response(b"no such operation", 404)
        held = request.headers.get(LEASE_HEADER)
        try:
            if held is not None:
                lease = leases.get(held)
                if lease is None:
                    raise _expired()
                result = await asyncio.wrap_future(lease.run(operation))
            else:
                result = await run_in_threadpool(operation)
        except BaseException as exc:
            return _error(exc)
        return Response(tagged(result) if op == "query" else orjson.dumps(result), media_type=JSON)

    return router


def _label(value: str | None) -> Label | None:
    return None if value is None else Label(value)


def _page(store: DuckStore, p: dict[str, Any]) -> dict[str, Any]:
    page = store.find(Label(p["label"]), p["where"], p["search"], p["after"], p["limit"])
    return {"nodes": [node_out(n) for n in page.nodes], "total": page.total}


def _query(store: DuckStore, p: dict[str, Any]) -> list[tuple[Any, ...]]:
    sql = str(p["sql"])
    # DuckDB runs every statement of a text, so a leading SELECT proves nothing: the text
    # must parse as one statement, and a read (the coverage evaluator's only kind)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        statements = []
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise StoreError("the hand-off runs one SQL read (a SELECT) at a time")
    return store.query(sql, p["params"])


def _lines(store: DuckStore) -> Iterator[bytes]:
    """Every element as one JSON line, a thousand lines a chunk (starlette runs this on
    worker threads, one chunk at a time)."""
    chunk: list[bytes] = []
    for element in store.elements():
        if isinstance(element, Link):
            chunk.append(orjson.dumps(["link", link_out(element)]))
        else:
            chunk.append(orjson.dumps(["node", node_out(element)]))
        if len(chunk) == 1000:
            yield b"\n".join(chunk) + b"\n"
            chunk = []
    if chunk:
        yield b"\n".join(chunk) + b"\n"


@contextmanager
def serving(store: DuckStore, secret: str) -> Iterator[str]:
    """The ``/_local`` endpoints over ``store`` on a free loopback port, on a thread of
    their own, for as long as the block runs: their base URL."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(local_router(store, secret))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="grassroots-local", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
