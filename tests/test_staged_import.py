"""The staged import on both stores: the bundle validated and diffed in DuckDB, and for
Neo4j, the store read in bulk, the unchanged rows found by digest and the changed ones
written in batches. What the row path does is the reference throughout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grassroots.exports.graph_file import GraphFormat, write_graph
from grassroots.graph.duck import DuckStore
from grassroots.graph.neo4j import HASH, Neo4jStore
from grassroots.graph.store import Changes, Store
from grassroots.importers import import_path
from grassroots.importers.ledger import import_rows
from grassroots.importers.sources import read_bundle
from grassroots.schema import Label, RelType
from tests.conftest import neo4j_settings, snapshot
from tests.ledgers import small_city, write_ledger

WITHOUT_DIGEST = """
RETURN COUNT { (n:Node) WHERE n._grassroots_hash IS NULL } AS nodes,
  COUNT { ()-[r]->() WHERE r.key IS NOT NULL AND r._grassroots_hash IS NULL } AS links
"""


def _tallies(outcome: Any) -> dict[str, dict[str, int]]:
    return {name: vars(tally) for name, tally in outcome.tallies.items()}


def test_the_digest_is_stored_but_never_read_back(store: Store, tmp_path: Path) -> None:
    """Neo4j keeps a digest on every element the staged import writes; no read, dump or
    graph export shows it (on the embedded store there is none: the same reads hold)."""
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    if isinstance(store, Neo4jStore):
        assert HASH == "_grassroots_hash"
        (record,) = store.read(WITHOUT_DIGEST)
        assert (record["nodes"], record["links"]) == (0, 0)
    elements = list(store.elements())
    assert elements and all(HASH not in e.props for e in elements)
    ids = [e.props["id"] for e in elements if "id" in e.props]
    assert all(HASH not in n.props for n in store.nodes(ids).values())
    links = store.links([(RelType.HOLDS_POST, e.key) for e in elements if hasattr(e, "key")])
    assert links and all(HASH not in ln.props for ln in links.values())
    around = store.neighbours(ids, RelType.HOLDS_POST, "in")
    assert any(around.values())
    assert all(HASH not in props for pairs in around.values() for _, props in pairs)
    assert all(HASH not in n.props for n in store.find(Label.AREA).nodes)
    assert HASH not in snapshot(store, tmp_path)
    for fmt in GraphFormat:
        path = tmp_path / f"graph.{fmt.value}"
        write_graph(store, path, fmt)
        assert HASH not in path.read_text(encoding="utf-8")


def test_a_store_written_without_digests_imports_as_the_row_path_says(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    """A store the row path wrote (old code, or a mutation) has no digests: the staged
    import compares those rows in full, reports them as the row path does (unchanged),
    writes nothing but their digests, and from then on finds them by digest."""
    store = neo4j_store
    store.reset()
    folder = write_ledger(tmp_path / "l", small_city())
    import_rows(store, read_bundle(folder))
    (record,) = store.read(WITHOUT_DIGEST)
    assert record["nodes"] > 0 and record["links"] > 0
    before = snapshot(store, tmp_path)
    expected = _tallies(import_rows(store, read_bundle(folder), dry_run=True))

    outcome = import_path(store, folder)
    assert _tallies(outcome) == expected
    assert outcome.written == 0
    assert snapshot(store, tmp_path) == before
    (record,) = store.read(WITHOUT_DIGEST)
    assert (record["nodes"], record["links"]) == (0, 0)

    # a write by other code drops the digest of what it writes: that row is compared
    # in full again, and a real change is still found
    area = store.nodes(["K"])["K"]
    renamed = type(area)(area.label, {**area.props, "name": "改名"}, area.refs)
    store.write(Changes(nodes=[renamed]))
    outcome = import_path(store, folder)
    assert outcome.tallies["areas"].updated == 1
    assert store.nodes(["K"])["K"].props["name"] == area.props["name"]
    assert import_path(store, folder).written == 0


def test_a_digest_of_another_shape_of_row_is_compared_in_full_not_counted_changed(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    """A digest made before a table's columns changed (another stamp) differs from every
    new one: those rows are compared in full, found unchanged, and only re-stamped; the
    two stores keep reporting a re-import of the same ledger as unchanged."""
    store = neo4j_store
    store.reset()
    folder = write_ledger(tmp_path / "l", small_city())
    import_path(store, folder)
    before = snapshot(store, tmp_path)
    _old_stamps(store)
    outcome = import_path(store, folder)
    assert outcome.written == 0, _tallies(outcome)
    assert all(t.updated == 0 and t.created == 0 for t in outcome.tallies.values())
    assert snapshot(store, tmp_path) == before
    (record,) = store.read(OLD_STAMPED)
    assert record["old"] == 0  # re-stamped: the next re-import finds them by digest


OLD_STAMPS = """
MATCH (n:Node)
SET n._grassroots_hash = 'v0.00000000:' + n._grassroots_hash
"""

OLD_STAMPED = """
RETURN COUNT { (n:Node) WHERE n._grassroots_hash STARTS WITH 'v0.' } AS old
"""


def _old_stamps(store: Neo4jStore) -> None:
    with store.driver.session(database=store.database) as session:
        session.run(OLD_STAMPS).consume()


class CountingTx:
    def __init__(self, tx: Any, sent: list[int]) -> None:
        self.tx, self.sent = tx, sent

    def run(self, cypher: str, **params: Any) -> Any:
        if "rows" in params:  # not the import lease's own statements
            self.sent.append(len(params["rows"]))
        return self.tx.run(cypher, **params)


class CountingSession:
    def __init__(self, session: Any, sent: list[int]) -> None:
        self.session, self.sent = session, sent

    def __enter__(self) -> CountingSession:
        self.session.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.session.__exit__(*exc)

    def execute_write(self, work: Any) -> Any:
        return self.session.execute_write(lambda tx: work(CountingTx(tx, self.sent)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class CountingDriver:
    """The real driver, counting the rows of every statement a write transaction runs."""

    def __init__(self, driver: Any) -> None:
        self.driver, self.sent = driver, list[int]()

    def session(self, **kwargs: Any) -> CountingSession:
        return CountingSession(self.driver.session(**kwargs), self.sent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.driver, name)


def test_the_write_is_sent_in_batches_of_the_configured_size(tmp_path: Path) -> None:
    """GRASSROOTS_NEO4J_BATCH bounds every statement the import sends (so what the
    client holds at a time), through a real server; the result is the whole ledger."""
    settings = neo4j_settings().model_copy(update={"neo4j_batch": 5})
    store = Neo4jStore.from_settings(settings)
    counting = CountingDriver(store.driver)
    store.driver = counting  # type: ignore[assignment]
    try:
        store.reset()
        counting.sent.clear()
        folder = write_ledger(tmp_path / "l", small_city())
        outcome = import_path(store, folder)
        rows = sum(t.created for t in outcome.tallies.values())
        assert rows > 3 * 5
        assert counting.sent and max(counting.sent) <= 5
        assert sum(counting.sent) >= rows  # nodes and links, then references too
        assert len(counting.sent) >= rows / 5
        local = DuckStore(tmp_path / "local")
        import_path(local, folder)
        assert store.counts() == local.counts()
        assert snapshot(store, tmp_path) == snapshot(local, tmp_path)
        local.close()
        counting.sent.clear()
        assert import_path(store, folder).written == 0
        assert counting.sent == []  # nothing changed: no statement at all
    finally:
        store.driver = counting.driver
        store.reset()
        store.close()
