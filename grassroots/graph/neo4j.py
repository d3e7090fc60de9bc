"""The Neo4j store, through the official driver.

Shape of the graph in Neo4j: every node carries the label ``Node`` (one uniqueness
constraint on ``Node.id`` keeps ids unique across all tables, as the contract says) and
its own label (``Area``, ``PartyOrg``...); references are bare relationships, links carry
their properties and their ``key``. Days are ISO strings, as in the dump.

How an import stays all or nothing: ``write`` runs every batch inside *one* managed write
transaction (``session.execute_write``), which the driver retries as a whole on transient
errors (a lock timeout, a leader switch in a cluster), each time on a fresh transaction.
Nodes and links the diff found absent are CREATEd (if another import created one
meanwhile, the uniqueness constraint on ``Node.id`` rejects the transaction); stored
nodes are MERGEd on ``id`` and replaced with ``SET n = ...``, their references deleted
and re-created; stored links are MERGEd on ``key``. Nothing is visible to readers until
the commit, and a server that dies before the commit rolls it back on restart.

An import larger than ``tx_rows`` rows (200k by default; a district fits) would not fit
a transaction's memory, so it commits in parts of that size, in order: nodes, their
references, links. If a part fails, the error says which parts are written; running the
import again, which writes only what differs, finishes it.

Reads run in managed read transactions (``execute_read``, the database always passed),
so a cluster's followers and read replicas serve them. Each read of the ``Store``
protocol is one transaction that sees one committed state, and an import that fits one
transaction is seen whole or not at all. Each is written once, as a *plan*: a generator
that yields the statements it needs (Cypher text and parameters), is sent their records
and returns the answer it shapes from them. The sync driver runs a plan for the CLI and
the importer (``Neo4jStore.nodes`` and the rest); the ``AsyncDriver`` runs the same plan
for the API (``Neo4jReads``), on an event loop of the store's own (``AsyncSide``), so a
read never holds the API's loop, whichever loop awaits it.

A ledger import takes the staged path (``stage()``, ``Neo4jStaging`` at the end of this
module): the bundle is validated and diffed in a DuckDB database of the import's own,
what the checks need of the store is read a page at a time, unchanged rows are found by
the digest (``HASH``) each staged write leaves on what it writes, and the changed rows are
streamed from DuckDB as the batches above, in the same order, transactions and parts.

The import's critical section (``exclusive()``) is a lease: one ``GrassrootsLock`` node,
taken in a write transaction of its own that records an owner token, the host, the pid
and an expiry; a thread renews it while the import runs (a parted import may take long),
and the import deletes it at the end. A lease whose holder died expires and can be taken
over. The lease node has no ``Node`` label, so no export, count, reset or query sees it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent.futures import Executor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, LiteralString, TypeVar

import duckdb
import neo4j
import orjson
from neo4j import (
    AsyncGraphDatabase,
    AsyncManagedTransaction,
    GraphDatabase,
    ManagedTransaction,
    RoutingControl,
)
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
)

from grassroots.errors import StoreBusy, StoreError, StoreUnavailable
from grassroots.graph.duck import (
    HOLDERS,
    LINK_LAYOUTS,
    NODE_LAYOUTS,
    Staging,
    changed_name,
    link_key,
    q,
    staged_name,
    stored_ids_view,
)
from grassroots.graph.filters import CypherParams
from grassroots.graph.store import (
    ASYNC_READS,
    MAX_DEPTH,
    TREE_LABELS,
    Above,
    AsyncReads,
    Below,
    Changes,
    Direction,
    Neighbour,
    Page,
    Store,
    ThreadedReads,
    TreeEntry,
    among,
    breadth_first,
    busy_message,
    checkpoint,
    checkpoint_async,
    long_id_list,
    neighbour_order,
    process_alive,
)
from grassroots.progress import Progress, silent
from grassroots.schema import BY_LABEL, TABLES, Label, Link, Node, Props, RelType, Table
from grassroots.schema.audit import COLUMNS as AUDIT_COLUMNS
from grassroots.schema.audit import Change, Entry, entries_of, rows_of
from grassroots.schema.audit import Row as AuditRow
from grassroots.schema.tables import BY_LINK, REFERENCE_TYPES
from grassroots.settings import Settings

# The driver logs every query's parameters and every record at DEBUG: a search text, an id
# typed into an argument, a phone returned (CONTRACT.md: logs never hold personal data).
# It stays at INFO whatever the root logger's level, in the CLI and in serve alike.
logging.getLogger("neo4j").setLevel(logging.INFO)

PARENT = {Label.AREA: RelType.WITHIN, Label.PARTY_ORG: RelType.UNDER}

# -- Cypher: labels and types are interpolated only from the schema's enums --------------
# Lookups by a list of ids or keys carry ``USING INDEX SEEK``: for a long list the planner
# may otherwise pick an index *scan* filtered per key, which is quadratic (measured: 36k
# CONTACTS keys, 0.48 s with the hint, 269 s for 20k without it).

SETUP: list[str] = [
    "CREATE CONSTRAINT node_id IF NOT EXISTS FOR (n:Node) REQUIRE n.id IS UNIQUE",
    *(
        f"CREATE INDEX {label.value.lower()}_id IF NOT EXISTS FOR (n:{label.value}) ON (n.id)"
        for label in Label
    ),
    *(
        f"CREATE INDEX {rel.value.lower()}_key IF NOT EXISTS FOR ()-[r:{rel.value}]-() ON (r.key)"
        for rel in BY_LINK
    ),
    # most coverage rules check areas of a kind (grids, communities...): a seek, not a
    # scan of every area for each focus (the district's report: 1.80M db hits, not 2.41M)
    "CREATE INDEX area_kind IF NOT EXISTS FOR (n:Area) ON (n.kind)",
]

# -- the store's own records (accounts, tokens): nodes outside the graph (no Node label),
# so reset (DELETE_ALL) keeps them

RECORD_LABEL = "GrassrootsRecord"
SETUP.append(
    f"CREATE CONSTRAINT grassroots_record IF NOT EXISTS"
    f" FOR (r:{RECORD_LABEL}) REQUIRE (r.kind, r.key) IS UNIQUE"
)

READ_RECORDS = f"""
MATCH (r:{RECORD_LABEL} {{kind: $kind}})
RETURN r.key AS key, r.doc AS doc
ORDER BY key
"""

PUT_RECORD = f"""
MERGE (r:{RECORD_LABEL} {{kind: $kind, key: $key}})
SET r.doc = $doc
"""

GENERATION_LABEL = "GrassrootsGeneration"
BUMP_GENERATION = f"""
MERGE (g:{GENERATION_LABEL} {{id: 1}})
SET g.n = coalesce(g.n, 0) + 1
"""
"""One node outside the graph that every write moves on, in the write's transaction, so
that any process's write changes ``Neo4jStore.generation``."""
READ_GENERATION = f"MATCH (g:{GENERATION_LABEL}) RETURN g.n AS n"

SETUP.append(
    f"CREATE CONSTRAINT grassroots_generation IF NOT EXISTS"
    f" FOR (g:{GENERATION_LABEL}) REQUIRE g.id IS UNIQUE"
)

AUDIT_LABEL = "GrassrootsAudit"
SETUP.append(f"CREATE INDEX grassroots_audit IF NOT EXISTS FOR (a:{AUDIT_LABEL}) ON (a.entry, a.n)")

APPEND_AUDIT = f"""
UNWIND $rows AS row
CREATE (a:{AUDIT_LABEL})
SET a = row
"""
"""The audit log, one node per change (``grassroots.schema.audit``), outside the graph
(no Node label): reset keeps it, and nothing but this statement writes it."""

READ_AUDIT = f"""
MATCH (a:{AUDIT_LABEL})
WHERE ($since IS NULL OR a.at >= $since)
  AND ($actor IS NULL OR a.actor = $actor)
RETURN a.entry, a.at, a.actor, a.via, a.action, a.n, a.kind, a.type, a.id, a.before, a.after
ORDER BY a.entry, a.n
"""


def _audit_row(row: AuditRow) -> dict[str, Any]:
    found = dict(zip(AUDIT_COLUMNS, row, strict=True))
    found["at"] = row[1].astimezone(UTC).isoformat()  # ISO text in UTC sorts as time does
    return {k: v for k, v in found.items() if v is not None}


# -- the import lease: one node, outside the graph (no Node label) ---------------------------

LEASE_LABEL = "GrassrootsLock"
SETUP.append(
    f"CREATE CONSTRAINT grassroots_lock IF NOT EXISTS"
    f" FOR (l:{LEASE_LABEL}) REQUIRE l.name IS UNIQUE"
)

# Setting a property first takes the node's write lock, so what is read next is the
# latest committed lease and no other transaction can take it meanwhile.
READ_LEASE = f"""
MERGE (lease:{LEASE_LABEL} {{name: 'import'}})
SET lease._LOCK_ = true
REMOVE lease._LOCK_
RETURN lease.owner AS owner, lease.expires < timestamp() AS expired,
       lease.since AS since, lease.host AS host, lease.pid AS pid
"""

TAKE_LEASE = f"""
MATCH (lease:{LEASE_LABEL} {{name: 'import'}})
SET lease.owner = $owner, lease.host = $host, lease.pid = $pid,
    lease.since = timestamp(), lease.expires = timestamp() + $lease_ms
"""

RENEW_LEASE = f"""
MATCH (lease:{LEASE_LABEL} {{name: 'import', owner: $owner}})
SET lease.expires = timestamp() + $lease_ms
"""

RELEASE_LEASE = f"""
MATCH (lease:{LEASE_LABEL} {{name: 'import', owner: $owner}})
DELETE lease
"""


def create_nodes(label: Label) -> str:
    return f"""
UNWIND $rows AS row
CREATE (n:Node:{label.value})
SET n = row.props
"""


def upsert_nodes(label: Label) -> str:
    return f"""
UNWIND $rows AS row
MERGE (n:Node {{id: row.id}})
SET n = row.props
SET n:{label.value}
"""


def drop_references(types: Sequence[RelType]) -> str:
    return f"""
UNWIND $rows AS id
MATCH (n:Node {{id: id}})-[r:{"|".join(t.value for t in types)}]->()
USING INDEX SEEK n:Node(id)
DELETE r
"""


# The two ends of each row's relationship, found by id.
ENDS = """
UNWIND $rows AS row
MATCH (start:Node {id: row.start})
USING INDEX SEEK start:Node(id)
MATCH (end:Node {id: row.end})
USING INDEX SEEK end:Node(id)
"""


def create_references(rel: RelType) -> str:
    return ENDS + f"CREATE (start)-[:{rel.value}]->(end)\n"


def create_links(rel: RelType) -> str:
    return (
        ENDS
        + f"""CREATE (start)-[r:{rel.value}]->(end)
SET r = row.props
SET r.key = row.key
"""
    )


def upsert_links(rel: RelType) -> str:
    return (
        ENDS
        + f"""MERGE (start)-[r:{rel.value} {{key: row.key}}]->(end)
SET r = row.props
SET r.key = row.key
"""
    )


HASH = "_grassroots_hash"
"""A property of every node and relationship the staged import writes: a digest of the
staged row it wrote (``Neo4jStaging.digest``), so that a re-import finds its unchanged
rows by comparing digests read in bulk, not elements rebuilt in Python. It is the
store's own: every read strips it (``_own``), and any other write (``SET n = ...`` of the
row path, a mutation) drops it, so that row counts as changed and is compared in full."""

HASH_VERSION = "2"
"""Part of every digest's stamp (``Neo4jStaging.stamp``): change it when the way a row is
digested changes; a stored digest of another version is in doubt, so its row is compared
in full, once. (A table's columns are in the stamp already.)"""


def rehash_nodes() -> str:
    return f"""
UNWIND $rows AS row
MATCH (n:Node {{id: row.id}})
USING INDEX SEEK n:Node(id)
SET n.{HASH} = row.hash
"""


def rehash_links(rel: RelType) -> str:
    return f"""
UNWIND $rows AS row
MATCH ()-[r:{rel.value} {{key: row.key}}]->()
USING INDEX SEEK r:{rel.value}(key)
SET r.{HASH} = row.hash
"""


def stored_nodes(label: Label) -> str:
    """One page of a label's stored ids (keyset paging on its ``id`` index), with what
    the import's checks read (a tree's parent, an area's kind) and the digest; ``last``
    is where the next page begins, in Neo4j's order of strings (UTF-16 units, which is
    not Python's for characters beyond U+FFFF)."""
    fields = ["n.id"]
    parent = ""
    if label in PARENT:
        parent = f"OPTIONAL MATCH (n)-[:{PARENT[label].value}]->(parent:Node)\n"
        fields.append("parent.id")
    if label is Label.AREA:
        fields.append("n.kind")
    fields.append(f"n.{HASH}")
    return f"""
MATCH (n:{label.value})
WHERE n.id > $after
WITH n
ORDER BY n.id
LIMIT $page
{parent}RETURN collect([{", ".join(fields)}]) AS rows, max(n.id) AS last
"""


def stored_links(rel: RelType) -> str:
    """One page of a link type's stored keys (keyset paging on its ``key`` index) and
    their digests."""
    return f"""
MATCH ()-[r:{rel.value}]->()
WHERE r.key > $after
WITH r
ORDER BY r.key
LIMIT $page
RETURN collect([r.key, r.{HASH}]) AS rows, max(r.key) AS last
"""


READ_NODES = f"""
UNWIND $ids AS id
MATCH (n:Node {{id: id}})
USING INDEX SEEK n:Node(id)
RETURN collect([
  labels(n), properties(n),
  COLLECT {{ MATCH (n)-[r:{"|".join(t.value for t in REFERENCE_TYPES)}]->(target)
            RETURN [type(r), target.id] }}
]) AS rows
"""


def read_links(rel: RelType) -> str:
    return f"""
UNWIND $keys AS key
MATCH (start:Node)-[r:{rel.value} {{key: key}}]->(end:Node)
USING INDEX SEEK r:{rel.value}(key)
RETURN collect([start.id, end.id, properties(r)]) AS rows
"""


def read_neighbours(rel: RelType, direction: Direction, where: list[str]) -> str:
    arrow = f"-[r:{rel.value}]->" if direction == "out" else f"<-[r:{rel.value}]-"
    conditions = f"WHERE {' AND '.join(where)}\n" if where else ""
    return f"""
UNWIND $ids AS id
MATCH (n:Node {{id: id}}){arrow}(other:Node)
USING INDEX SEEK n:Node(id)
{conditions}RETURN collect([id, other.id, properties(r)]) AS rows
"""


def find_nodes(label: Label, where: list[str]) -> str:
    conditions = " AND ".join(
        [
            "($after IS NULL OR n.id > $after)",
            "($search IS NULL OR toLower(n.name) CONTAINS $search)",
            *where,
        ]
    )
    return f"""
MATCH (n:{label.value})
WHERE {conditions}
RETURN n.id AS id
ORDER BY id
LIMIT $limit
"""


def count_nodes(label: Label, where: list[str]) -> str:
    conditions = " AND ".join(["($search IS NULL OR toLower(n.name) CONTAINS $search)", *where])
    return f"""
MATCH (n:{label.value})
WHERE {conditions}
RETURN count(n) AS total
"""


def match_ids(label: Label, where: list[str]) -> str:
    """The ids ``find`` matches, in its order, as one list: a record each costs the
    driver three times as much (800 ids: 27 ms, collected 9 ms)."""
    conditions = " AND ".join(["($search IS NULL OR toLower(n.name) CONTAINS $search)", *where])
    return f"""
MATCH (n:{label.value})
WHERE {conditions}
WITH n.id AS id
ORDER BY id
LIMIT $most
RETURN collect(id) AS ids
"""


def read_tree(label: Label) -> str:
    return f"""
MATCH (n:{label.value})
OPTIONAL MATCH (n)-[:{PARENT[label].value}]->(parent:Node)
RETURN collect([n.id, parent.id, n.kind]) AS rows
"""


def walk_down(rel: RelType, depth: int) -> str:
    """``descendants``: one variable-length match down the tree. Cypher takes no parameter
    as a length bound, so ``depth`` (an int, at most ``MAX_DEPTH``) is written into the
    text; the bound also ends a cycle."""
    label, arrow = TREE_LABELS[rel].value, f"<-[:{rel.value}*0..{int(depth)}]-"
    return f"""
UNWIND $ids AS id
MATCH (root:Node {{id: id}})
USING INDEX SEEK root:Node(id)
WHERE root:{label}
MATCH p = (root){arrow}(n:{label})
WITH n, length(p) AS depth, nodes(p) AS trail
RETURN collect([
  n.id,
  CASE WHEN depth = 0 THEN null ELSE trail[-2].id END,
  depth,
  COUNT {{ (n)<-[:{rel.value}]-(:{label}) }}
]) AS rows
"""


def walk_up(rels: Sequence[RelType]) -> str:
    """``ancestors``: every node at most ``MAX_DEPTH - 1`` steps above each id, once, with
    the node it points to."""
    climb = "WITH n AS a\nWITH DISTINCT a, null AS up\n"
    if rels:
        types = "|".join(rel.value for rel in rels)
        climb = (
            f"MATCH (n)-[:{types}*0..{MAX_DEPTH - 1}]->(a:Node)\n"
            "WITH DISTINCT a\n"
            f"OPTIONAL MATCH (a)-[:{types}]->(up:Node)\n"
        )
    return f"""
UNWIND $ids AS id
MATCH (n:Node {{id: id}})
USING INDEX SEEK n:Node(id)
{climb}RETURN collect([a.id, [l IN labels(a) WHERE l <> 'Node'][0], a.name, up.id]) AS rows
"""


def read_label(label: Label) -> str:
    return f"""
MATCH (n:{label.value})
OPTIONAL MATCH (n)-[r]->(target:Node)
WHERE type(r) IN $reference_types
RETURN n.id AS id, properties(n) AS props, collect([type(r), target.id]) AS refs
ORDER BY id
"""


def read_all_links(rel: RelType) -> str:
    return f"""
MATCH (start:Node)-[r:{rel.value}]->(end:Node)
RETURN start.id AS start, end.id AS end, properties(r) AS props
ORDER BY r.key
"""


COUNTS = (
    "RETURN {\n"
    + ",\n".join(
        [f"  {label.value}: COUNT {{ (:{label.value}) }}" for label in Label]
        + [f"  {rel.value}: COUNT {{ ()-[:{rel.value}]->() }}" for rel in RelType]
    )
    + "\n} AS counts"
)
"""Nodes per label and relationships per type, in one statement (labels from the enums)."""

DELETE_ALL = """
MATCH (n:Node)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS
"""


@dataclass(frozen=True)
class Batch:
    """One statement of a write: its Cypher, how many rows it sends, how many ledger rows
    those count for, and a function that gives the rows (called again on a retry, so a
    staged import fetches each batch from DuckDB when it runs, never all at once)."""

    cypher: str
    size: int
    counted: int
    rows: Callable[[], list[Any]]


def _q(text: str) -> LiteralString:
    """Our Cypher is built only from constants and enum values, never from input.

    (mypy treats ``LiteralString`` as ``str``; the annotation documents the promise.)"""
    return text


def _reference_map(pairs: list[list[Any]]) -> dict[RelType, str]:
    return {RelType(t): str(end) for t, end in pairs if t is not None}


def _own(props: Props) -> Props:
    """A node's properties as stored, less the store's own digest."""
    return {k: v for k, v in props.items() if k != HASH}


def _link_props(props: Props) -> Props:
    return {k: v for k, v in props.items() if k != "key" and k != HASH}


def _dead(holder: neo4j.Record) -> bool:
    """Whether a lease's holder is a process of this host that no longer runs (killed,
    say): its lease need not be waited out."""
    if holder["host"] != socket.gethostname() or not isinstance(holder["pid"], int):
        return False
    return not process_alive(holder["pid"])


# -- reads as plans, run by either driver ------------------------------------------------

T = TypeVar("T")
Statement = tuple[str, dict[str, Any]]
Plan = Generator[list[Statement], list[list[neo4j.Record]], T]
"""A read: yields lists of statements to run (in order, in the plan's one transaction),
is sent each list's records (one list per statement), returns what it shapes of them."""


def _drive(plan: Plan[T], run: Callable[[list[Statement]], list[list[neo4j.Record]]]) -> T:
    """Runs ``plan`` with the sync driver's transaction (through ``run``)."""
    try:
        statements = next(plan)
        while True:
            statements = plan.send(run(statements))
    except StopIteration as done:
        answer: T = done.value
        return answer


async def _drive_async(
    plan: Plan[T], run: Callable[[list[Statement]], Awaitable[list[list[neo4j.Record]]]]
) -> T:
    """Runs ``plan`` with the ``AsyncDriver``'s transaction: ``_drive``, awaited."""
    try:
        statements = next(plan)
        while True:
            statements = plan.send(await run(statements))
    except StopIteration as done:
        answer: T = done.value
        return answer


def _needs_no_query(make: Callable[[], Plan[T]]) -> tuple[bool, T | None]:
    """Whether the plan answers without a statement (no ids asked), and its answer then:
    such a read opens no transaction, so it costs no round trip."""
    plan = make()
    try:
        next(plan)
    except StopIteration as done:
        return True, done.value
    plan.close()
    return False, None


def _collected(
    cypher: str, batch: int, over: str | None = None, **params: Any
) -> Generator[list[Statement], list[list[neo4j.Record]], list[list[Any]]]:
    """A plan step whose statement returns its rows as ``collect([...]) AS rows``.

    The driver builds a Python ``Record`` per row, about 25 µs each, so a bulk read
    returns one list instead (10x faster for 60k ids, measured). ``over`` names a list
    parameter to send in batches of ``batch``; an empty one sends nothing."""
    if over is None:
        statements = [(cypher, params)]
    else:
        values = params.pop(over)
        statements = [
            (cypher, {**params, over: values[start : start + batch]})
            for start in range(0, len(values), batch)
        ]
    if not statements:
        return []
    results = yield statements
    return [row for records in results for row in records[0]["rows"]]


class AsyncSide:
    """The store's ``AsyncDriver``, on an event loop of its own in a daemon thread.

    A driver's connections belong to the loop that opened them, and the API's loop is
    not one loop for a store's whole life (a test client runs each request on a new
    one); so the driver lives on this loop, and an awaiting loop waits on a future
    while the I/O runs here. The sync driver's pool is left to the CLI and importer."""

    def __init__(self, connect: Callable[[], neo4j.AsyncDriver]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="grassroots-neo4j-async", daemon=True
        )
        self.thread.start()

        async def make() -> neo4j.AsyncDriver:
            return connect()

        self.driver = asyncio.run_coroutine_threadsafe(make(), self.loop).result()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    def close(self) -> None:
        try:
            with suppress(Exception):  # closing: a driver that cannot say goodbye is gone
                asyncio.run_coroutine_threadsafe(self.driver.close(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            if not self.loop.is_running():  # a loop still held by a read is left to its
                self.loop.close()  # daemon thread, which ends with the process


class Neo4jStore:
    name = "neo4j"

    def __init__(
        self,
        driver: neo4j.Driver,
        database: str,
        batch: int = 20000,
        tx_rows: int = 200_000,
        connect_async: Callable[[], neo4j.AsyncDriver] | None = None,
    ) -> None:
        self.driver = driver
        self.connect_async = connect_async  # the API's AsyncDriver, made on first use
        self._async: AsyncSide | None = None
        self._async_guard = threading.Lock()
        self.database = database
        self.batch = batch  # rows per statement
        self.tx_rows = tx_rows  # rows per transaction
        self.last_write_attempts = 0  # how often the driver ran the last write (retries + 1)
        self.lock_seconds = 60.0  # how long exclusive() waits for another import's lease
        self.lease_seconds = 60.0  # a lease not renewed for this long may be taken over
        self._lease = threading.local()  # .owner: this thread holds the lease

    @classmethod
    def from_settings(cls, settings: Settings) -> Neo4jStore:
        password = settings.neo4j_password.get_secret_value()
        auth = (settings.neo4j_user, password) if password else None
        where = f"Neo4j at {settings.neo4j_uri} (database {settings.neo4j_database!r})"
        # Notifications (e.g. "label not in the database yet" on an empty store) are
        # advice for query authors, not news for a user; keep them off stderr.
        options: dict[str, Any] = {
            "auth": auth,
            "notifications_min_severity": "OFF",
            "max_transaction_retry_time": settings.neo4j_retry_seconds,
        }
        try:
            driver = GraphDatabase.driver(settings.neo4j_uri, **options)
        except (ConfigurationError, ValueError) as exc:
            raise StoreUnavailable(
                f"NEO4J_URI {settings.neo4j_uri!r} is not a Neo4j address ({exc}); use"
                " bolt://host:7687 or neo4j://host:7687"
            ) from None
        try:
            driver.verify_connectivity()
            store = cls(
                driver,
                settings.neo4j_database,
                settings.neo4j_batch,
                settings.neo4j_tx_rows,
                lambda: AsyncGraphDatabase.driver(settings.neo4j_uri, **options),
            )
            store.lock_seconds = settings.lock_seconds
            store.setup()
        except AuthError:
            driver.close()
            raise StoreUnavailable(
                f"{where} refused the credentials of user {settings.neo4j_user!r};"
                " check NEO4J_USER and NEO4J_PASSWORD"
            ) from None
        except (ServiceUnavailable, OSError) as exc:
            driver.close()
            if found := settings.neo4j_uri_file:  # left behind by a server that died
                raise StoreUnavailable(
                    f"the Neo4j server make neo4j-start ran is not running: {found} names"
                    f" {settings.neo4j_uri}, which does not answer. Run make neo4j-start,"
                    " or set NEO4J_URI to another server"
                ) from None
            raise StoreUnavailable(
                f"cannot reach {where}: {exc}. Start it (make neo4j-start, or docker compose"
                " up neo4j) or point NEO4J_URI at a running server"
            ) from None
        except Neo4jError as exc:
            driver.close()
            raise StoreUnavailable(f"{where} answered with an error: {exc.message}") from None
        return store

    def setup(self) -> None:
        """Constraints and indexes, created idempotently."""
        for statement in SETUP:
            self.driver.execute_query(_q(statement), database_=self.database)

    def read(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """A read query, routed to a reader in a cluster."""
        try:
            records, _, _ = self.driver.execute_query(
                _q(cypher), params, database_=self.database, routing_=RoutingControl.READ
            )
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not answer: {exc}") from None
        return records

    def read_rows(self, cypher: str, over: str | None = None, **params: Any) -> list[list[Any]]:
        """A read whose one record holds its rows as ``collect([...]) AS rows``, in
        batches of ``self.batch`` over the list parameter ``over`` (``_collected``)."""
        return self.run(lambda: _collected(cypher, self.batch, over, **params))

    # -- running plans -----------------------------------------------------------------

    def run(self, make: Callable[[], Plan[T]]) -> T:
        """The plan ``make()`` in one managed read transaction of the sync driver."""
        done, answer = _needs_no_query(make)
        if done:
            return answer  # type: ignore[return-value]  # the plan's own answer

        def work(tx: ManagedTransaction) -> T:
            return _drive(
                make(), lambda statements: [list(tx.run(_q(c), p)) for c, p in statements]
            )

        try:
            with self.driver.session(
                database=self.database, default_access_mode=neo4j.READ_ACCESS
            ) as session:
                return session.execute_read(work)
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not answer: {exc}") from None

    async def run_async(self, make: Callable[[], Plan[T]]) -> T:
        """The plan ``make()`` in one managed read transaction of the ``AsyncDriver``."""
        done, answer = _needs_no_query(make)
        if done:
            return answer  # type: ignore[return-value]  # the plan's own answer
        side = self._async_side()

        async def statements(
            tx: AsyncManagedTransaction, batch: list[Statement]
        ) -> list[list[neo4j.Record]]:
            out = []
            for cypher, params in batch:
                result = await tx.run(_q(cypher), params)
                out.append([record async for record in result])
            return out

        async def work(tx: AsyncManagedTransaction) -> T:
            return await _drive_async(make(), lambda batch: statements(tx, batch))

        async def session() -> T:
            async with side.driver.session(
                database=self.database, default_access_mode=neo4j.READ_ACCESS
            ) as opened:
                return await opened.execute_read(work)

        try:
            return await side.run(session())
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not answer: {exc}") from None

    def _async_side(self) -> AsyncSide:
        with self._async_guard:
            if self._async is None:
                if self.connect_async is None:
                    raise StoreError("this Neo4j store was made without an async driver")
                self._async = AsyncSide(self.connect_async)
            return self._async

    # -- the reads, as plans -----------------------------------------------------------

    def nodes_plan(self, ids: Collection[str], label: Label | None = None) -> Plan[dict[str, Node]]:
        found: dict[str, Node] = {}
        rows = yield from _collected(READ_NODES, self.batch, "ids", ids=list(ids))
        for labels, props, refs in rows:
            own = Label(next(lbl for lbl in labels if lbl != "Node"))
            if label in (None, own):
                found[props["id"]] = Node(own, _own(props), _reference_map(refs))
        return found

    def links_plan(
        self, keys: Collection[tuple[RelType, str]]
    ) -> Plan[dict[tuple[RelType, str], Link]]:
        by_type: dict[RelType, list[str]] = defaultdict(list)
        for rel, key in keys:
            by_type[rel].append(key)
        found: dict[tuple[RelType, str], Link] = {}
        for rel, wanted in by_type.items():
            rows = yield from _collected(read_links(rel), self.batch, "keys", keys=wanted)
            for start, end, props in rows:
                key = str(props["key"])
                found[(rel, key)] = Link(rel, start, end, key, _link_props(props))
        return found

    def neighbours_plan(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> Plan[dict[str, list[Neighbour]]]:

        params = CypherParams()
        conditions = params.filters("r", where or {})
        wanted = list(dict.fromkeys(ids))
        found: dict[str, list[Neighbour]] = {node_id: [] for node_id in wanted}
        rows = yield from _collected(
            read_neighbours(rel, direction, conditions),
            self.batch,
            "ids",
            ids=wanted,
            **params.params,
        )
        for node_id, other, props in rows:
            found[node_id].append((other, _link_props(props)))
        return {node_id: sorted(pairs, key=neighbour_order) for node_id, pairs in found.items()}

    def find_plan(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Plan[Page]:
        """The count and the page in one transaction, then the page's nodes; among a
        long list of ids, the matching ids then the page's nodes (``find_among_plan``)."""

        if (long := long_id_list(where)) is not None:
            found = yield from self.find_among_plan(label, *long, search, after, limit)
            if found is not None:
                return found
        params = CypherParams()
        conditions = params.filters("n", where or {})
        needle = search.lower() if search else None
        total, page = yield [
            (count_nodes(label, conditions), {"search": needle, **params.params}),
            (
                find_nodes(label, conditions),
                {"after": after, "search": needle, "limit": limit, **params.params},
            ),
        ]
        ids = [record["id"] for record in page]
        nodes = yield from self.nodes_plan(ids)
        return Page([nodes[i] for i in ids], int(total[0]["total"]))

    def find_among_plan(
        self,
        label: Label,
        wanted: frozenset[str],
        where: dict[str, Any],
        search: str | None,
        after: str | None,
        limit: int,
    ) -> Plan[Page | None]:
        """``find`` among a long list of ids (``long_id_list``): ``n.id IN $ids`` seeks
        the index once an id and ships the list with each statement, so the ids matching
        the other filters are read instead (at most one more than the list holds) and
        kept in Python. None when more match than the list holds."""
        params = CypherParams()
        conditions = params.filters("n", where)
        needle = search.lower() if search else None
        (rows,) = yield [
            (
                match_ids(label, conditions),
                {"search": needle, "most": len(wanted) + 1, **params.params},
            )
        ]
        ids: list[str] = rows[0]["ids"]
        if len(ids) > len(wanted):
            return None
        page, total = among(ids, wanted, after, limit)
        nodes = yield from self.nodes_plan(page)
        return Page([nodes[i] for i in page], total)

    def tree_plan(self, label: Label) -> Plan[dict[str, TreeEntry]]:
        rows = yield from _collected(read_tree(label), self.batch)
        return {node_id: TreeEntry(parent, kind) for node_id, parent, kind in rows}

    def descendants_plan(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> Plan[list[Below]]:
        limit = MAX_DEPTH if depth is None else min(max(depth, 0), MAX_DEPTH)
        wanted = list(dict.fromkeys(ids))
        rows = yield from _collected(walk_down(rel, limit), self.batch, "ids", ids=wanted)
        return breadth_first(Below(i, up, int(d), int(n)) for i, up, d, n in rows)

    def ancestors_plan(
        self, ids: Collection[str], rels: Sequence[RelType]
    ) -> Plan[dict[str, Above]]:
        wanted = list(dict.fromkeys(ids))
        rows = yield from _collected(walk_up(rels), self.batch, "ids", ids=wanted)
        return {
            node_id: Above(Label(label), None if name is None else str(name), up)
            for node_id, label, name, up in rows
        }

    def counts_plan(self) -> Plan[dict[str, int]]:
        # one statement, so one transaction: the counts of one committed state, never
        # some labels from before an import's commit and some from after it
        (records,) = yield [(COUNTS, {})]
        counted: dict[str, int] = records[0]["counts"]
        return {name: n for name, n in counted.items() if n}

    # -- the Store protocol ------------------------------------------------------------

    def nodes(self, ids: Collection[str], label: Label | None = None) -> dict[str, Node]:
        return self.run(lambda: self.nodes_plan(ids, label))

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        return self.run(lambda: self.links_plan(keys))

    def neighbours(
        self,
        ids: Collection[str],
        rel: RelType,
        direction: Direction,
        where: dict[str, Any] | None = None,
    ) -> dict[str, list[Neighbour]]:
        return self.run(lambda: self.neighbours_plan(ids, rel, direction, where))

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        return self.run(lambda: self.find_plan(label, where, search, after, limit))

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        return self.run(lambda: self.tree_plan(label))

    def descendants(
        self, ids: Collection[str], rel: RelType, depth: int | None = None
    ) -> list[Below]:
        return self.run(lambda: self.descendants_plan(ids, rel, depth))

    def ancestors(self, ids: Collection[str], rels: Sequence[RelType]) -> dict[str, Above]:
        return self.run(lambda: self.ancestors_plan(ids, rels))

    def snapshot(self) -> Neo4jStore:
        """The store itself: every read is a transaction that sees one committed state."""
        return self

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """The import's critical section: the lease, taken (waiting up to ``timeout``,
        default ``lock_seconds``), renewed by a thread while held, then released."""
        if getattr(self._lease, "owner", None) is not None:  # already held by this thread
            yield
            return
        wait = self.lock_seconds if timeout is None else timeout
        owner = uuid.uuid4().hex
        self._take_lease(owner, wait)
        self._lease.owner = owner
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(owner, stop), daemon=True)
        renewer.start()
        try:
            yield
        except BaseException:
            with suppress(StoreError):  # the error that ended the import says more
                self._end_lease(owner, stop, renewer)
            raise
        self._end_lease(owner, stop, renewer)

    def _end_lease(self, owner: str, stop: threading.Event, renewer: threading.Thread) -> None:
        stop.set()
        renewer.join()
        self._lease.owner = None
        self._lease_write(RELEASE_LEASE, owner=owner)

    def _lease_write(self, cypher: str, **params: Any) -> None:
        try:
            self.driver.execute_query(_q(cypher), params, database_=self.database)
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not update the import lease: {exc}") from None

    def _take_lease(self, owner: str, wait: float) -> None:
        lease_ms = int(self.lease_seconds * 1000)
        me: dict[str, Any] = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid()}

        def attempt(tx: ManagedTransaction) -> dict[str, Any] | None:
            record = tx.run(_q(READ_LEASE)).single(strict=True)
            if record["owner"] is not None and not record["expired"] and not _dead(record):
                return {
                    "since": record["since"] / 1000,
                    "host": record["host"],
                    "pid": record["pid"],
                }
            tx.run(_q(TAKE_LEASE), **me, lease_ms=lease_ms).consume()
            return None

        deadline = time.monotonic() + wait
        waited = False
        while True:
            try:
                with self.driver.session(database=self.database) as session:
                    holder = session.execute_write(attempt)
            except (Neo4jError, DriverError) as exc:
                raise StoreError(f"Neo4j could not take the import lease: {exc}") from None
            if holder is None:
                return
            if not waited:
                waited = True
                checkpoint("busy")
            if time.monotonic() >= deadline:
                raise StoreBusy(busy_message(holder, wait))
            time.sleep(0.2)

    def _renew(self, owner: str, stop: threading.Event) -> None:
        lease_ms = int(self.lease_seconds * 1000)
        while not stop.wait(self.lease_seconds / 4):
            # A failed renewal is tried again next time; a lost server fails the write.
            with suppress(StoreError):
                self._lease_write(RENEW_LEASE, owner=owner, lease_ms=lease_ms)

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        batches = self._statements(changes)
        if changes.audit is not None:  # in the write's transaction; if parted, its first
            batches = self.audit_batches(changes.audit, changes.audit.changes) + batches
        self.run_batches(batches, len(changes), progress)

    def audit_batches(self, entry: Entry, changes: Iterable[Change]) -> list[Batch]:
        """``entry`` with ``changes`` as batches of a write."""
        rows = [_audit_row(row) for row in rows_of(entry, changes)]
        return [
            Batch(APPEND_AUDIT, len(chunk), 0, partial(list, chunk))
            for chunk in (rows[i : i + self.batch] for i in range(0, len(rows), self.batch))
        ]

    def _append_audit(self, entry: Entry) -> None:
        try:
            with self.driver.session(database=self.database) as session:
                for batch in self.audit_batches(entry, entry.changes):
                    session.run(_q(batch.cypher), rows=batch.rows()).consume()
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not append to the audit log: {exc}") from None

    def generation(self) -> object:
        found = self.read(READ_GENERATION)
        return int(found[0]["n"]) if found else 0

    def audit_log(self, since: datetime | None = None, actor: str | None = None) -> list[Entry]:
        moment = None if since is None else since.astimezone(UTC).isoformat()
        found = self.read(READ_AUDIT, since=moment, actor=actor)
        return entries_of(tuple(record.values()) for record in found)

    def run_batches(self, batches: list[Batch], total: int, progress: Progress = silent) -> None:
        """Run ``batches`` in order: in one managed transaction, or, when they send more
        than ``tx_rows`` rows, in parts of that size (see the module's docstring)."""
        parts = self._parts(batches)
        tick = progress("writing", total)
        self.last_write_attempts = 0
        for number, part in enumerate(parts, 1):

            def work(tx: ManagedTransaction, part: list[Batch] = part) -> None:
                self.last_write_attempts += 1
                checkpoint("writing")
                for batch in part:
                    tx.run(_q(batch.cypher), rows=batch.rows()).consume()
                    tick(batch.counted)  # a retried part counts again: the bar may overshoot
                tx.run(_q(BUMP_GENERATION)).consume()  # each part a new state of the graph

            try:
                with self.driver.session(database=self.database) as session:
                    session.execute_write(work)
            except (Neo4jError, DriverError, StoreError) as exc:  # StoreError: the staging's
                why = (
                    f"Neo4j rejected the import: {exc}"
                    if isinstance(exc, Neo4jError | DriverError)
                    else str(exc)
                )
                if number == 1:
                    raise StoreError(f"{why}; nothing was written") from None
                raise StoreError(
                    f"{why}; part {number} of {len(parts)} of the import failed, and parts"
                    f" 1-{number - 1} are written. Run the same import again: it writes only"
                    " what differs from the store, so it finishes the rest."
                ) from None

    def _statements(self, changes: Changes) -> list[Batch]:
        """The import as batches in the order they must run: nodes, then their
        references, then links. Each batch says how many ledger rows it writes."""
        out: list[Batch] = []

        def add(cypher: str, rows: list[Any], counted: bool) -> None:
            for start in range(0, len(rows), self.batch):
                chunk = rows[start : start + self.batch]
                size = len(chunk)
                out.append(Batch(cypher, size, size if counted else 0, partial(list, chunk)))

        by_label: dict[Label, list[Node]] = defaultdict(list)
        for node in changes.nodes:
            by_label[node.label].append(node)
        for label, nodes in by_label.items():
            fresh = [{"props": n.props} for n in nodes if n.id in changes.new]
            stored = [n for n in nodes if n.id not in changes.new]
            add(create_nodes(label), fresh, True)
            add(upsert_nodes(label), [{"id": n.id, "props": n.props} for n in stored], True)
            types = [ref.rel for ref in BY_LABEL[label].refs]
            if types:  # new nodes have no references to drop
                add(drop_references(types), [n.id for n in stored], False)
        references: dict[RelType, list[dict[str, str]]] = defaultdict(list)
        for node in changes.nodes:
            for rel, end in node.refs.items():
                references[rel].append({"start": node.id, "end": end})
        for rel, pairs in references.items():
            add(create_references(rel), pairs, False)
        new_links: dict[RelType, list[dict[str, Any]]] = defaultdict(list)
        stored_links: dict[RelType, list[dict[str, Any]]] = defaultdict(list)
        for ln in changes.links:
            row = {"start": ln.start, "end": ln.end, "key": ln.key, "props": ln.props}
            new = (ln.type, ln.key) in changes.new_links
            (new_links if new else stored_links)[ln.type].append(row)
        for rel in BY_LINK:
            add(create_links(rel), new_links[rel], True)
            add(upsert_links(rel), stored_links[rel], True)
        return out

    def _parts(self, batches: list[Batch]) -> list[list[Batch]]:
        """Batches grouped into transactions of at most ``tx_rows`` rows: one, unless the
        import is larger than that (a whole city), when Neo4j's transaction memory would
        not hold it (measured: a 6 GiB heap's 4.2 GiB limit fills before 2.1M rows)."""
        parts: list[list[Batch]] = [[]]
        size = 0
        for batch in batches:
            if parts[-1] and size + batch.size > self.tx_rows:
                parts.append([])
                size = 0
            parts[-1].append(batch)
            size += batch.size
        return parts

    def stage(self) -> Neo4jStaging:
        """A DuckDB database of the import's own (a temporary file, so that DuckDB may
        spill a city to disk rather than hold it), where the bundle is staged and what
        the checks and the diff need of this store is read in bulk (``read_store``)."""
        return Neo4jStaging(self)

    def elements(self) -> Iterator[Node | Link]:
        reference_types = [t.value for t in REFERENCE_TYPES]
        for label in Label:
            for record in self.read(read_label(label), reference_types=reference_types):
                yield Node(label, _own(record["props"]), _reference_map(record["refs"]))
        for rel in BY_LINK:
            for record in self.read(read_all_links(rel)):
                props = dict(record["props"])
                yield Link(
                    rel, record["start"], record["end"], str(props["key"]), _link_props(props)
                )

    def counts(self) -> dict[str, int]:
        return self.run(self.counts_plan)

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        found = self.read(READ_RECORDS, kind=kind)
        return {str(r["key"]): orjson.loads(r["doc"]) for r in found}

    def put_record(
        self, kind: str, key: str, doc: dict[str, Any], entry: Entry | None = None
    ) -> None:
        audit = [] if entry is None else [_audit_row(r) for r in rows_of(entry, entry.changes)]

        def work(tx: ManagedTransaction) -> None:  # the record and its entry: one transaction
            tx.run(_q(PUT_RECORD), kind=kind, key=key, doc=orjson.dumps(doc).decode()).consume()
            tx.run(_q(BUMP_GENERATION)).consume()  # an account's change counts as a write
            if audit:
                tx.run(_q(APPEND_AUDIT), rows=audit).consume()

        try:
            with self.driver.session(database=self.database) as session:
                session.execute_write(work)
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not save the {kind} {key!r}: {exc}") from None

    def reset(self, entry: Entry | None = None) -> None:
        with self.exclusive():
            try:
                with self.driver.session(database=self.database) as session:
                    session.run(_q(BUMP_GENERATION)).consume()  # in case it stops half-way
                    session.run(_q(DELETE_ALL)).consume()  # the lease has no Node label
                    session.run(_q(BUMP_GENERATION)).consume()
            except (Neo4jError, DriverError) as exc:
                raise StoreError(f"Neo4j could not empty the database: {exc}") from None
            if entry is not None:  # DELETE_ALL commits in parts of its own: the entry after
                self._append_audit(entry)

    def close(self) -> None:
        with self._async_guard:
            side, self._async = self._async, None
        try:
            if side is not None:
                side.close()
        finally:
            self.driver.close()


class Neo4jReads(ThreadedReads):
    """``AsyncReads`` of a Neo4j store: the same plans as its sync reads (``NAME_plan``
    for the read ``NAME``), run by the ``AsyncDriver`` (``Neo4jStore.run_async``); sync
    work (``call``: a report, a link path) runs on the loop's default executor."""

    def __init__(self, store: Neo4jStore, pool: Executor) -> None:
        super().__init__(store, pool)
        self.neo4j = store

    async def _read(self, name: str, *args: Any) -> Any:
        await checkpoint_async(f"read-{name}")
        plan = getattr(self.neo4j, f"{name}_plan")
        return await self.neo4j.run_async(lambda: plan(*args))


def _async_reads(store: Store, pool: Executor) -> AsyncReads:
    assert isinstance(store, Neo4jStore)  # registered under its name only
    return Neo4jReads(store, pool)


ASYNC_READS[Neo4jStore.name] = _async_reads


# -- the staged import: the bundle in DuckDB, what is stored read in bulk, written in batches --

STAGING_MEMORY = "512MB"
"""What the staging database may hold in memory before it spills to its folder: a
city's staged bundle and mirror are larger, and the client's whole import must stay
within issue 11's 1.5 GB."""

MIRROR_NODES = """
CREATE TABLE {name} (
  id VARCHAR,
  {tree}_hash VARCHAR
)
"""

MIRROR_LINKS = """
CREATE TABLE {name} (
  key VARCHAR,
  _hash VARCHAR
)
"""

CLASSIFY = """
CREATE OR REPLACE TEMP TABLE {changed} AS
SELECT s._row, s._key, s._hash,
  CASE WHEN n.{stored_key} IS NULL THEN 'created'
       WHEN n._hash = s._hash THEN 'unchanged'
       ELSE 'updated' END AS status,
  (n._hash IS NULL OR NOT starts_with(n._hash, $stamp) OR s._extra IS NOT NULL) AS doubt
FROM (
  SELECT s._row, s._extra, {key} AS _key, {digest} AS _hash
  FROM {staged} AS s
) AS s
LEFT JOIN main.{stored} AS n ON n.{stored_key} = s._key
"""
"""Each staged row's fate by its digest: one join, whatever the size. A differing digest
is in doubt when the stored one is missing (written by other code) or was made for
another shape of row (its stamp differs: ``Neo4jStaging.stamp``), or the row keeps
unknown cells (whose JSON may be spelt in another key order): those are compared in
full (``Neo4jStaging.classify``)."""

FEED = """
CREATE OR REPLACE TEMP TABLE {feed} AS
SELECT row_number() OVER (ORDER BY s._row) AS _seq, {columns}
FROM {staged} AS s
JOIN {changed} AS c ON c._row = s._row
WHERE {where}
"""

FEED_BATCH = """
SELECT * EXCLUDE (_seq)
FROM {feed}
WHERE _seq > $after
  AND _seq <= $until
ORDER BY _seq
"""


CREATED = "c.status = 'created'"
UPDATED = "c.status = 'updated'"
REHASH = "c.status = 'rehash'"
KEY_HASH = "c._key, c._hash"


@dataclass(frozen=True)
class Feed:
    """One statement of the staged write: the rows ``where`` selects (``columns`` of the
    staged row ``s`` and its fate ``c``), each made a parameter by ``convert``."""

    cypher: str
    columns: str
    where: str
    convert: Callable[[tuple[Any, ...]], Any]
    counted: bool


class Neo4jStaging(Staging):
    """The Neo4j store's staging: its own DuckDB database, holding the staged bundle and,
    under the store's table names, what the checks read of the store (ids, trees' parents,
    areas' kinds) and each element's digest (``HASH``), read a page at a time."""

    def __init__(self, store: Neo4jStore) -> None:
        self.store = store
        try:
            self.folder = Path(tempfile.mkdtemp(prefix="grassroots-import-"))
        except OSError as exc:
            raise StoreError(
                f"an import into Neo4j stages its bundle in a temporary folder, and none"
                f" could be made ({exc}); point TMPDIR at a folder with room"
            ) from None
        try:
            self.db = duckdb.connect(
                str(self.folder / "staging.duckdb"),
                config={"memory_limit": STAGING_MEMORY, "temp_directory": str(self.folder)},
            )
        except duckdb.Error as exc:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise StoreError(
                f"an import into Neo4j stages its bundle in {self.folder.parent}, which"
                f" refused: {exc}; free space there, or point TMPDIR at a folder with room"
            ) from None
        super().__init__(self.db.cursor())
        try:
            for label, layout in NODE_LAYOUTS.items():
                parent = HOLDERS[PARENT[label]].column if label in PARENT else None
                tree = f"{q(parent)} VARCHAR,\n  " if parent else ""
                if label is Label.AREA:
                    tree += "kind VARCHAR,\n  "
                self.execute(MIRROR_NODES.format(name=q(layout.name), tree=tree))
            for layout in LINK_LAYOUTS.values():
                self.execute(MIRROR_LINKS.format(name=q(layout.name)))
            self.execute(stored_ids_view())
        except BaseException:
            self.close()  # its folder goes with it
            raise

    def failed(self, exc: duckdb.Error) -> StoreError:
        return StoreError(
            f"an import into Neo4j could not stage its bundle in {self.folder}: {exc}; free"
            " space there, or point TMPDIR at a folder with room, and run the import again"
        )

    def read_store(self) -> None:
        for label, layout in NODE_LAYOUTS.items():
            self._mirror(stored_nodes(label), layout.name)
        for rel, layout in LINK_LAYOUTS.items():
            self._mirror(stored_links(rel), layout.name)

    def _mirror(self, cypher: str, name: str) -> None:
        """Copy one label's or type's pages into its table (DuckDB takes each column of a
        page as one list)."""
        after = ""
        while True:
            (page,) = self.store.read(cypher, after=after, page=self.store.batch)
            rows = page["rows"]
            if not rows:
                return
            width = len(rows[0])
            columns = {f"c{i}": [row[i] for row in rows] for i in range(width)}
            lists = ", ".join(f"UNNEST($c{i}::VARCHAR[])" for i in range(width))
            self.execute(f"INSERT INTO main.{q(name)}\nSELECT {lists}", columns)
            if len(rows) < self.store.batch:
                return
            after = page["last"]  # Neo4j's string order, which its ``>`` pages by

    def stamp(self, table: Table) -> str:
        """What a digest of ``table`` starts with: ``HASH_VERSION`` and a digest of the
        columns a row writes, so that a new column, or a new way of writing one, makes
        every stored digest of the table doubtful (compared in full, once), not changed."""
        shape = hashlib.md5("|".join(self.staged_parts(table)).encode()).hexdigest()[:8]
        return f"v{HASH_VERSION}.{shape}:"

    def digest(self, table: Table) -> str:
        """The SQL digest of a staged row: its stamp, then a digest of everything it
        writes, in the store's column order."""
        parts = ", ".join(f"CAST({part} AS VARCHAR)" for part in self.staged_parts(table))
        return f"'{self.stamp(table)}' || md5(CAST(to_json([{parts}]) AS VARCHAR))"

    def classify(self, table: Table, changed: str) -> None:
        layout = self._layout(table)
        self.execute(
            CLASSIFY.format(
                changed=changed,
                stored_key="id" if table.is_node else "key",
                key="s.id" if table.is_node else link_key(table, "s"),
                digest=self.digest(table),
                staged=staged_name(table),
                stored=q(layout.name),
            ),
            {"stamp": self.stamp(table)},
        )
        same: list[int] = []
        after = 0
        # a page at a time: a store the row path wrote has every row in doubt
        while chunk := self.updated_rows(table, changed, "c.doubt", after, self.store.batch):
            after = int(chunk[-1][0])
            new = {int(row[0]): self.element(table, row[1:]) for row in chunk}
            if table.label is not None:
                nodes = [e for e in new.values() if isinstance(e, Node)]
                found_nodes = self.store.nodes([e.id for e in nodes], table.label)
                same += [n for n, e in new.items() if found_nodes.get(_id_of(e)) == e]
            else:
                links = [e for e in new.values() if isinstance(e, Link)]
                found_links = self.store.links([(e.type, e.key) for e in links])
                same += [n for n, e in new.items() if found_links.get((_rel_of(e), _id_of(e))) == e]
        self.mark(changed, same, "rehash")  # unchanged, but its digest is to be written

    def write(self, progress: Progress = silent, audit: Entry | None = None) -> None:
        """Write the created, updated and rehashed rows in batches of ``batch`` rows,
        each fetched from DuckDB when it runs: nodes, their references, links; and
        ``audit``, first, so that each change's before is read while it is still
        stored (in the write's transaction, or in its first parts if it is parted)."""
        batches = [] if audit is None else self._audit_batches(audit)
        total = 0
        # the audit's rows and the generation's count towards the parts, as the data's do
        extra = sum(batch.size for batch in batches) + 1
        for number, (table, feed) in enumerate(self._feeds(self._parted(extra))):
            name = q(f"feed_{number}")
            sql = FEED.format(
                feed=name,
                columns=feed.columns,
                staged=staged_name(table),
                changed=changed_name(table),
                where=feed.where,
            )
            self.execute(sql)
            ((count,),) = self.execute(f"SELECT count(*) FROM {name}")
            total += int(count) if feed.counted else 0
            batches += self._batches(name, int(count), feed)
        self.store.run_batches(batches, total, progress)

    def _audit_batches(self, audit: Entry) -> list[Batch]:
        step, out, start = self.store.batch, [], 0
        for staged in self.tables:
            table, count = staged.table, self.changed_count(staged.table)
            for offset in range(0, count, step):

                def rows(table: Table = table, offset: int = offset, n: int = start) -> list[Any]:
                    changes = self.audited_part(self.store, table, offset, step)
                    return [_audit_row(row) for row in rows_of(audit, changes, n)]

                size = min(step, count - offset)
                out.append(Batch(APPEND_AUDIT, size, 0, rows))
                start += size
        return out

    def _batches(self, name: str, count: int, feed: Feed) -> list[Batch]:
        step = self.store.batch
        out = []
        for after in range(0, count, step):
            until = min(after + step, count)

            def rows(after: int = after, until: int = until) -> list[Any]:
                found = self.execute(FEED_BATCH.format(feed=name), {"after": after, "until": until})
                return [feed.convert(row) for row in found]

            size = until - after
            out.append(Batch(feed.cypher, size, size if feed.counted else 0, rows))
        return out

    def _parted(self, extra: int = 0) -> bool:
        """Whether the write may commit in parts (``Neo4jStore._parts``): an upper bound
        of the rows it sends (a node's drop of its references and each reference count
        as a row each; ``extra`` more beside them) above ``tx_rows``."""
        total = extra
        for table in TABLES:
            if any(s.table is table and s.rows for s in self.tables):
                per_row = 2 + len(table.refs) if table.refs else 1
                ((count,),) = self.execute(
                    f"SELECT count(*) FROM {changed_name(table)}"
                    " WHERE status IN ('created', 'updated', 'rehash')"
                )
                total += int(count) * per_row
        return total > self.store.tx_rows

    def _feeds(self, parted: bool) -> list[tuple[Table, Feed]]:
        """What the write sends, in the order it must run (as ``Neo4jStore._statements``):
        nodes, then their references, then links.

        A write in parts may stop between them (a part fails, the process is killed):
        then a node whose digest is written but whose references are not would pass for
        unchanged, and a re-run would never mend it. So in a parted write a node with
        references is written without its digest, which a last feed stamps after every
        reference is written: a node a stopped run left has none, is compared in full
        (its references with it) and written again."""
        staged = [t for t in TABLES if any(s.table is t and s.rows for s in self.tables)]
        nodes: list[tuple[Table, Feed]] = []
        references: list[tuple[Table, Feed]] = []
        links: list[tuple[Table, Feed]] = []
        stamps: list[tuple[Table, Feed]] = []
        for table in staged:
            row = f"c._hash, {', '.join(self.staged_parts(table))}"
            late = parted and bool(table.refs)  # its digest written after its references
            props = self._converter(table, with_digest=not late)
            if table.label is not None:
                nodes += [
                    (table, Feed(create_nodes(table.label), row, CREATED, _props_of(props), True)),
                    (table, Feed(upsert_nodes(table.label), row, UPDATED, _id_props(props), True)),
                    (table, Feed(rehash_nodes(), KEY_HASH, REHASH, _hashed("id"), False)),
                ]
                if table.refs:
                    drop = drop_references([ref.rel for ref in table.refs])
                    nodes.append((table, Feed(drop, "c._key", UPDATED, _first, False)))
                for ref in table.refs:
                    column = f"s.{q(ref.column)}"
                    where = f"c.status IN ('created', 'updated') AND {column} IS NOT NULL"
                    feed = Feed(create_references(ref.rel), f"s.id, {column}", where, _ends, False)
                    references.append((table, feed))
                if late:
                    written = "c.status IN ('created', 'updated')"
                    stamps.append(
                        (table, Feed(rehash_nodes(), KEY_HASH, written, _hashed("id"), False))
                    )
            else:
                assert table.rel is not None
                links += [
                    (table, Feed(create_links(table.rel), row, CREATED, props, True)),
                    (table, Feed(upsert_links(table.rel), row, UPDATED, props, True)),
                    (table, Feed(rehash_links(table.rel), KEY_HASH, REHASH, _hashed("key"), False)),
                ]
        return [*nodes, *references, *links, *stamps]

    def _converter(self, table: Table, with_digest: bool = True) -> Convert:
        """A fed row (its digest, then the store's column order) as what the statement
        takes: a node's properties, or a link's ends, key and properties, with the digest
        among the properties unless it is to be stamped later."""

        def convert(row: tuple[Any, ...]) -> Any:
            element = self.element(table, row[1:])
            props = {**element.props, HASH: row[0]} if with_digest else dict(element.props)
            if isinstance(element, Node):
                return props
            return {"start": element.start, "end": element.end, "key": element.key, "props": props}

        return convert

    def close(self) -> None:
        super().close()
        with suppress(duckdb.Error):
            self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)


Convert = Callable[[tuple[Any, ...]], Any]


def _props_of(props: Convert) -> Convert:
    return lambda row: {"props": props(row)}


def _id_props(props: Convert) -> Convert:
    def convert(row: tuple[Any, ...]) -> Any:
        found = props(row)
        return {"id": found["id"], "props": found}

    return convert


def _hashed(key: str) -> Convert:
    return lambda row: {key: row[0], "hash": row[1]}


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


def _ends(row: tuple[Any, ...]) -> Any:
    return {"start": row[0], "end": row[1]}


def _id_of(element: Node | Link) -> str:
    return element.id if isinstance(element, Node) else element.key


def _rel_of(element: Node | Link) -> RelType:
    assert isinstance(element, Link)
    return element.type
