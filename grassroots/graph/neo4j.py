"""The Neo4j store, through the official driver.

Shape of the graph in Neo4j: every node carries the label ``Node`` (one uniqueness
constraint on ``Node.id`` keeps ids unique across all tables, as the contract says) and
its own label (``Area``, ``PartyOrg``...); references are bare relationships, links carry
their properties and their ``key``. Days are ISO strings, as in the dump.

How an import stays all or nothing: ``write`` runs every batch inside *one* managed write
transaction (``session.execute_write``). The driver retries the whole transaction
function on transient errors (a lock timeout, a leader switch in a cluster), so the
function is idempotent: nodes are MERGEd on ``id`` and replaced with ``SET n = ...``,
references are deleted and re-created, links are MERGEd on ``key``. Nothing is visible
to readers until the commit, and a server that dies before the commit rolls it back on
restart. Reads go through ``execute_query`` with read routing, so a cluster's followers
and read replicas serve them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from typing import Any, LiteralString

import neo4j
from neo4j import GraphDatabase, ManagedTransaction, RoutingControl
from neo4j.exceptions import (
    AuthError,
    ConfigurationError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
)

from grassroots.errors import StoreError, StoreUnavailable
from grassroots.graph.store import Changes, Direction, Neighbour, Page, TreeEntry, neighbour_order
from grassroots.progress import Progress, silent
from grassroots.schema import BY_LABEL, Label, Link, Node, Props, RelType
from grassroots.schema.tables import BY_LINK, REFERENCE_TYPES
from grassroots.settings import Settings

PARENT = {Label.AREA: RelType.WITHIN, Label.PARTY_ORG: RelType.UNDER}

# -- Cypher: labels and types are interpolated only from the schema's enums --------------

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
]


def upsert_nodes(label: Label) -> str:
    return f"""
UNWIND $rows AS row
MERGE (n:Node {{id: row.id}})
SET n = row.props
SET n:{label.value}
"""


def drop_references(types: Sequence[RelType]) -> str:
    return f"""
UNWIND $ids AS id
MATCH (:Node {{id: id}})-[r:{"|".join(t.value for t in types)}]->()
DELETE r
"""


def create_references(rel: RelType) -> str:
    return f"""
UNWIND $rows AS row
MATCH (start:Node {{id: row.start}})
MATCH (end:Node {{id: row.end}})
CREATE (start)-[:{rel.value}]->(end)
"""


def upsert_links(rel: RelType) -> str:
    return f"""
UNWIND $rows AS row
MATCH (start:Node {{id: row.start}})
MATCH (end:Node {{id: row.end}})
MERGE (start)-[r:{rel.value} {{key: row.key}}]->(end)
SET r = row.props
SET r.key = row.key
"""


READ_NODES = """
UNWIND $ids AS id
MATCH (n:Node {id: id})
OPTIONAL MATCH (n)-[r]->(target:Node)
WHERE type(r) IN $reference_types
RETURN n.id AS id, labels(n) AS labels, properties(n) AS props,
       collect([type(r), target.id]) AS refs
"""


def read_links(rel: RelType) -> str:
    return f"""
UNWIND $keys AS key
MATCH (start:Node)-[r:{rel.value} {{key: key}}]->(end:Node)
RETURN start.id AS start, end.id AS end, properties(r) AS props
"""


def read_neighbours(rel: RelType, direction: Direction) -> str:
    arrow = f"-[r:{rel.value}]->" if direction == "out" else f"<-[r:{rel.value}]-"
    return f"""
UNWIND $ids AS id
MATCH (:Node {{id: id}}){arrow}(other:Node)
RETURN id, other.id AS other, properties(r) AS props
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


def read_tree(label: Label) -> str:
    return f"""
MATCH (n:{label.value})
OPTIONAL MATCH (n)-[:{PARENT[label].value}]->(parent:Node)
RETURN n.id AS id, parent.id AS parent, n.kind AS kind
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


DELETE_ALL = """
MATCH (n:Node)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS
"""


def _q(text: str) -> LiteralString:
    """Our Cypher is built only from constants and enum values, never from input.

    (mypy treats ``LiteralString`` as ``str``; the annotation documents the promise.)"""
    return text


def _reference_map(pairs: list[list[Any]]) -> dict[RelType, str]:
    return {RelType(t): str(end) for t, end in pairs if t is not None}


def _link_props(props: Props) -> Props:
    return {k: v for k, v in props.items() if k != "key"}


class Neo4jStore:
    name = "neo4j"

    def __init__(self, driver: neo4j.Driver, database: str, batch: int = 5000) -> None:
        self.driver = driver
        self.database = database
        self.batch = batch
        self.last_write_attempts = 0  # how often the driver ran the last write (retries + 1)

    @classmethod
    def from_settings(cls, settings: Settings) -> Neo4jStore:
        password = settings.neo4j_password.get_secret_value()
        auth = (settings.neo4j_user, password) if password else None
        where = f"Neo4j at {settings.neo4j_uri} (database {settings.neo4j_database!r})"
        try:
            # Notifications (e.g. "label not in the database yet" on an empty store) are
            # advice for query authors, not news for a user; keep them off stderr.
            driver = GraphDatabase.driver(
                settings.neo4j_uri,
                auth=auth,
                notifications_min_severity="OFF",
                max_transaction_retry_time=settings.neo4j_retry_seconds,
            )
        except (ConfigurationError, ValueError) as exc:
            raise StoreUnavailable(
                f"NEO4J_URI {settings.neo4j_uri!r} is not a Neo4j address ({exc}); use"
                " bolt://host:7687 or neo4j://host:7687"
            ) from None
        try:
            driver.verify_connectivity()
            store = cls(driver, settings.neo4j_database, settings.neo4j_batch)
            store.setup()
        except AuthError:
            driver.close()
            raise StoreUnavailable(
                f"{where} refused the credentials of user {settings.neo4j_user!r};"
                " check NEO4J_USER and NEO4J_PASSWORD"
            ) from None
        except (ServiceUnavailable, OSError) as exc:
            driver.close()
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

    # -- the Store protocol ------------------------------------------------------------

    def nodes(self, ids: Collection[str]) -> dict[str, Node]:
        found: dict[str, Node] = {}
        wanted = list(ids)
        for start in range(0, len(wanted), self.batch):
            for record in self.read(
                READ_NODES,
                ids=wanted[start : start + self.batch],
                reference_types=[t.value for t in REFERENCE_TYPES],
            ):
                labels = [lbl for lbl in record["labels"] if lbl != "Node"]
                found[record["id"]] = Node(
                    Label(labels[0]), dict(record["props"]), _reference_map(record["refs"])
                )
        return found

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        by_type: dict[RelType, list[str]] = defaultdict(list)
        for rel, key in keys:
            by_type[rel].append(key)
        found: dict[tuple[RelType, str], Link] = {}
        for rel, wanted in by_type.items():
            for start in range(0, len(wanted), self.batch):
                for record in self.read(read_links(rel), keys=wanted[start : start + self.batch]):
                    props = dict(record["props"])
                    key = str(props["key"])
                    found[(rel, key)] = Link(
                        rel, record["start"], record["end"], key, _link_props(props)
                    )
        return found

    def neighbours(
        self, ids: Collection[str], rel: RelType, direction: Direction
    ) -> dict[str, list[Neighbour]]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, list[Neighbour]] = {node_id: [] for node_id in wanted}
        for start in range(0, len(wanted), self.batch):
            for record in self.read(
                read_neighbours(rel, direction), ids=wanted[start : start + self.batch]
            ):
                found[record["id"]].append((record["other"], _link_props(dict(record["props"]))))
        return {node_id: sorted(pairs, key=neighbour_order) for node_id, pairs in found.items()}

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        from grassroots.queries.filters import CypherParams

        params = CypherParams()
        conditions = params.filters("n", where or {})
        needle = search.lower() if search else None
        total = self.read(count_nodes(label, conditions), search=needle, **params.params)
        page = self.read(
            find_nodes(label, conditions),
            after=after,
            search=needle,
            limit=limit,
            **params.params,
        )
        ids = [record["id"] for record in page]
        nodes = self.nodes(ids)
        return Page([nodes[i] for i in ids], int(total[0]["total"]))

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        return {r["id"]: TreeEntry(r["parent"], r["kind"]) for r in self.read(read_tree(label))}

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        tick = progress("writing", len(changes))
        nodes_by_label: dict[Label, list[Node]] = defaultdict(list)
        for node in changes.nodes:
            nodes_by_label[node.label].append(node)
        links_by_type: dict[RelType, list[Link]] = defaultdict(list)
        for link in changes.links:
            links_by_type[link.type].append(link)
        self.last_write_attempts = 0

        def work(tx: ManagedTransaction) -> None:
            self.last_write_attempts += 1
            for label, nodes in nodes_by_label.items():
                rows = [{"id": n.id, "props": n.props} for n in nodes]
                self._batched(tx, upsert_nodes(label), rows, tick)
            for label, nodes in nodes_by_label.items():
                types = [ref.rel for ref in BY_LABEL[label].refs]
                if types:
                    ids = [n.id for n in nodes]
                    for start in range(0, len(ids), self.batch):
                        tx.run(_q(drop_references(types)), ids=ids[start : start + self.batch])
            references: dict[RelType, list[dict[str, str]]] = defaultdict(list)
            for node in changes.nodes:
                for rel, end in node.refs.items():
                    references[rel].append({"start": node.id, "end": end})
            for rel, pairs in references.items():
                self._batched(tx, create_references(rel), pairs, None)
            for rel, links in links_by_type.items():
                link_rows = [
                    {"start": ln.start, "end": ln.end, "key": ln.key, "props": ln.props}
                    for ln in links
                ]
                self._batched(tx, upsert_links(rel), link_rows, tick)

        try:
            with self.driver.session(database=self.database) as session:
                session.execute_write(work)
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j rejected the import, so nothing was written: {exc}") from None

    def _batched(
        self, tx: ManagedTransaction, cypher: str, rows: list[dict[str, Any]], tick: Any
    ) -> None:
        for start in range(0, len(rows), self.batch):
            chunk = rows[start : start + self.batch]
            tx.run(_q(cypher), rows=chunk).consume()
            if tick is not None:
                tick(len(chunk))

    def elements(self) -> Iterator[Node | Link]:
        reference_types = [t.value for t in REFERENCE_TYPES]
        for label in Label:
            for record in self.read(read_label(label), reference_types=reference_types):
                yield Node(label, dict(record["props"]), _reference_map(record["refs"]))
        for rel in BY_LINK:
            for record in self.read(read_all_links(rel)):
                props = dict(record["props"])
                yield Link(
                    rel, record["start"], record["end"], str(props["key"]), _link_props(props)
                )

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label in Label:
            n = self.read(f"MATCH (n:{label.value}) RETURN count(n) AS n")[0]["n"]
            if n:
                out[label.value] = n
        for rel in RelType:
            n = self.read(f"MATCH ()-[r:{rel.value}]->() RETURN count(r) AS n")[0]["n"]
            if n:
                out[rel.value] = n
        return out

    def reset(self) -> None:
        try:
            with self.driver.session(database=self.database) as session:
                session.run(_q(DELETE_ALL)).consume()
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j could not empty the database: {exc}") from None

    def close(self) -> None:
        self.driver.close()
