"""The web app: the page at / (``grassroots.web``), GraphQL at /graphql (GraphiQL on GET),
health at /healthz (with the graph's node count while the store keeps no accounts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from strawberry.fastapi import GraphQLRouter

from grassroots.api.context import Context
from grassroots.api.limits import BodyLimit
from grassroots.api.schema import build_schema
from grassroots.graph import Store, open_store
from grassroots.graph.served import PREFIX
from grassroots.graph.store import ReadsFactory, async_reads
from grassroots.graph.subtrees import SubtreesCache
from grassroots.queries.accounts import ACCOUNT, Caller, caller, digest
from grassroots.schema import Label
from grassroots.schema.audit import Actor
from grassroots.settings import Settings, load_settings
from grassroots.web import mount as mount_page


class _NoQueryStrings(logging.Filter):
    """Cuts the query string from uvicorn's access log lines: a GET to /graphql carries
    the query and its variables there, and so may carry a phone or an ID number. Drops
    the lines of the CLI's hand-off (one logger serves the whole process, so the private
    server's own ``access_log=False`` does not hold once serve's logging is set up)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3:
            if str(args[2]).startswith(PREFIX):
                return False  # the CLI's hand-off calls (api/local.py): many, and private
            if "?" in str(args[2]):
                record.args = (*args[:2], str(args[2]).split("?", 1)[0] + "?...", *args[3:])
        return True


_ACCESS_LOG = logging.getLogger("uvicorn.access")
if not any(isinstance(f, _NoQueryStrings) for f in _ACCESS_LOG.filters):
    _ACCESS_LOG.addFilter(_NoQueryStrings())


class Utf8GraphQLRouter(GraphQLRouter[Context, None]):
    """Answers in UTF-8 JSON, so that `curl` shows 东山社区, not \\u4e1c\\u5c71."""

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)


def _account(store: Store, token: str) -> Caller:
    """The account of a token kept in the store (``grassroots tokens issue``), read anew
    for each request so that a revocation, an expiry or a disabled account counts from
    the next one."""
    found = caller(store, token)
    if found is None:
        raise HTTPException(401, "unknown, expired or revoked API token")
    return found


class _AccountsKept:
    """Whether the store keeps any account, read once per state of the store: once it
    does, a request without a token reads nothing (else it would read past every
    account's subtrees), whatever GRASSROOTS_API_READS_NEED_TOKEN says."""

    def __init__(self) -> None:
        self._known: tuple[object, bool] = (object(), False)

    def __call__(self, store: Store) -> bool:
        generation = store.generation()
        if self._known[0] != generation:
            self._known = (generation, bool(store.records(ACCOUNT)))
        return self._known[1]


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    reads: ReadsFactory = async_reads,
) -> FastAPI:
    """The app over ``store`` (default: the one ``settings`` name). ``reads`` makes each
    request's awaited reads of its snapshot (default: the store's own, registered by its
    name; the round-trip tests pass one that counts them)."""
    config = settings or load_settings()
    opened = store or open_store(config)
    tokens = config.grants()
    # The API's sync store reads (the embedded store's, and taking a request's snapshot)
    # run here, never on the event loop; bounded, so a flood of requests queues here
    # instead of starting a thread (and a DuckDB cursor) each. Long work (a report, a
    # link path: ``AsyncReads.call``) runs on the loop's own executor, beside these.
    pool = ThreadPoolExecutor(config.api_read_threads, thread_name_prefix="grassroots-api")
    parts = SubtreesCache()  # what each subtree account sees, per state of the store
    kept = _AccountsKept()

    async def context(request: Request) -> Context:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        grants = tokens.get(token, frozenset())
        areas: tuple[str, ...] = ()  # an account bound to subtrees sees only them
        # who writes, for the audit log: an account by its name, a token of
        # GRASSROOTS_API_TOKENS by the start of its digest (never the token itself)
        actor = Actor(name=f"token {digest(token)[:8]}" if token else "anonymous", via="api")
        if token and token not in tokens:
            found = await asyncio.get_running_loop().run_in_executor(
                pool, partial(_account, opened, token)
            )
            grants, areas = found.grants, found.areas
            actor = Actor(name=found.account, via="api")
        loop = asyncio.get_running_loop()
        if not config.api_reads_need_token:
            if not token and await loop.run_in_executor(pool, kept, opened):
                raise HTTPException(
                    401,
                    "this store keeps accounts, so every request needs a token: send"
                    " Authorization: Bearer <token> (grassroots tokens issue NAME gives one)",
                )
            grants = grants | {"read"}
        if "read" not in grants:
            raise HTTPException(401, "this API needs a token: send Authorization: Bearer <token>")
        # the state an account's part was worked out for: read before the snapshot, so
        # that a write between the two makes it be worked out again, never kept stale
        generation = await loop.run_in_executor(pool, opened.generation) if areas else None
        # one snapshot per request; taking it may open the embedded store's file
        snapshot = await loop.run_in_executor(pool, opened.snapshot)
        return Context(
            snapshot, config, grants, reads(snapshot, pool), areas, actor, generation, parts
        )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # reads still running finish (for a while) before their store may close under them
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.to_thread(pool.shutdown, cancel_futures=True), 10)
        if store is None:  # opened here: closed here (a caller closes its own)
            opened.close()

    app = FastAPI(title="Grassroots", docs_url=None, redoc_url=None, lifespan=lifespan)
    router: GraphQLRouter[Context, None] = Utf8GraphQLRouter(
        build_schema(config), context_getter=context, graphql_ide="graphiql"
    )
    app.include_router(router, prefix="/graphql")
    app.add_middleware(BodyLimit, limit=config.api_max_body_bytes)

    @app.get("/healthz")  # starlette's JSONResponse writes UTF-8 (ensure_ascii=False)
    async def healthz() -> dict[str, Any]:
        answer: dict[str, Any] = {"status": "ok", "store": opened.name}
        if await asyncio.get_running_loop().run_in_executor(pool, kept, opened):
            return answer  # asked with no token: the graph's size is no one's to learn
        counts = await reads(opened, pool).counts()
        return {**answer, "nodes": sum(counts.get(label.value, 0) for label in Label)}

    mount_page(app)
    app.state.store = opened
    return app
