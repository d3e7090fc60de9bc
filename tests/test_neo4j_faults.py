"""Neo4j under faults: a blocked write is retried by the driver, and a server that is
stopped, killed or restarted around an import loses nothing and keeps no half-import.

The restart tests run their own Neo4j server (same jars, own data folder) so that they
can kill it without disturbing the rest of the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from grassroots.errors import StoreError
from grassroots.graph.duck import DuckStore
from grassroots.graph.neo4j import Neo4jStore
from grassroots.importers import import_path
from grassroots.progress import Tick
from grassroots.sample.city import generate, write_bundle
from grassroots.settings import Settings, StoreKind
from tests.conftest import neo4j_settings
from tests.ledgers import small_city, write_ledger

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tools" / "neo4j" / "neo4j.sh"


def test_a_blocked_write_is_retried_until_it_commits(
    neo4j_store: Neo4jStore, tmp_path: Path
) -> None:
    neo4j_store.reset()
    import_path(neo4j_store, write_ledger(tmp_path / "l", small_city()))
    ledger = small_city()
    ledger["areas"][3]["name"] = "东山社区（新）"
    folder = write_ledger(tmp_path / "changed", {"areas": ledger["areas"]})

    # Another client holds a write lock on the community until our first attempt has
    # failed (the server's lock wait is 2 s, tools/neo4j) and the driver has begun a
    # second: however slow the machine, the first attempt cannot get the lock.
    session = neo4j_store.driver.session(database=neo4j_store.database)
    holder = session.begin_transaction()
    holder.run("MATCH (n:Node {id: 'K'}) SET n.name = 'held'").consume()
    neo4j_store.last_write_attempts = 0

    def release() -> None:
        deadline = time.monotonic() + 120
        while neo4j_store.last_write_attempts < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        holder.rollback()
        session.close()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        import_path(neo4j_store, folder)
    finally:
        releaser.join()
    assert neo4j_store.last_write_attempts >= 2
    assert neo4j_store.nodes(["K"])["K"].props["name"] == "东山社区（新）"


@contextmanager
def held(store: Neo4jStore, node_id: str) -> Iterator[None]:
    """Another client's write lock on one node, held until the block ends (rolled back)."""
    session = store.driver.session(database=store.database)
    holder = session.begin_transaction()
    holder.run("MATCH (n:Node {id: $id}) SET n.name = 'held'", id=node_id).consume()
    try:
        yield
    finally:
        holder.rollback()
        session.close()


def test_an_import_larger_than_a_transaction_commits_in_parts_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    settings = neo4j_settings().model_copy(update={"neo4j_retry_seconds": 1.0})
    store = Neo4jStore.from_settings(settings)
    store.batch, store.tx_rows = 2, 2  # every two rows a transaction of their own
    try:
        store.reset()
        ledger = small_city()
        import_path(store, write_ledger(tmp_path / "l", ledger))
        local = DuckStore(tmp_path / "local")
        import_path(local, write_ledger(tmp_path / "l", ledger))
        assert store.counts() == local.counts()  # the parted import wrote everything
        local.close()

        for area in ledger["areas"]:
            area["name"] += "（新）"
        folder = write_ledger(tmp_path / "renamed", {"areas": ledger["areas"]})
        first, last = ledger["areas"][0]["id"], ledger["areas"][-1]["id"]
        # Another client holds the last area through every retry: its part fails.
        with held(store, last), pytest.raises(StoreError, match=r"parts 1-\d+ are written.*again"):
            import_path(store, folder)
        names = {i: n.props["name"] for i, n in store.nodes([first, last]).items()}
        assert names[first].endswith("（新）") and not names[last].endswith("（新）")

        outcome = import_path(store, folder)  # the re-run writes what is missing
        assert outcome.written >= 1
        assert all(n.props["name"].endswith("（新）") for n in store.nodes([first, last]).values())
        assert import_path(store, folder).written == 0
    finally:
        store.reset()
        store.close()


def test_a_parted_import_stopped_before_its_references_is_mended_by_a_rerun(
    tmp_path: Path,
) -> None:
    settings = neo4j_settings().model_copy(update={"neo4j_retry_seconds": 1.0})
    store = Neo4jStore.from_settings(settings)
    store.batch, store.tx_rows = 1, 1  # every row a transaction of its own
    try:
        store.reset()
        ledger = small_city()
        import_path(store, write_ledger(tmp_path / "l", ledger))
        for area in ledger["areas"]:
            if area["id"] == "B1":
                area["parent_id"] = "G2"  # the building moves to the other grid
        folder = write_ledger(tmp_path / "moved", {"areas": ledger["areas"]})
        # B1's new properties and the drop of its old parent commit in parts of their
        # own; another client holds G2 through every retry, so the part that links B1
        # to G2 fails: B1 is left written, with no parent.
        with held(store, "G2"), pytest.raises(StoreError, match=r"parts 1-\d+ are written"):
            import_path(store, folder)
        assert store.nodes(["B1"])["B1"].refs == {}  # stopped between the parts

        assert import_path(store, folder).written >= 1  # not taken for unchanged
        assert list(store.nodes(["B1"])["B1"].refs.values()) == ["G2"]
        assert import_path(store, folder).written == 0
    finally:
        store.reset()
        store.close()


class Server:
    """A private Neo4j server in ``home``, started and stopped with the project's script."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = dict(os.environ, NEO4J_HOME_DIR=str(home))

    def start(self) -> str:
        subprocess.run([str(SCRIPT), "start"], env=self.env, check=True, timeout=300)
        return (self.home / "uri").read_text().strip()

    def stop(self) -> None:
        subprocess.run([str(SCRIPT), "stop"], env=self.env, check=True, timeout=120)

    def kill(self) -> None:
        os.kill(int((self.home / "pid").read_text()), signal.SIGKILL)
        for _ in range(100):
            try:
                os.kill(int((self.home / "pid").read_text()), 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    own = Server(tmp_path / "neo4j")
    yield own
    own.stop()


def _open(uri: str) -> Neo4jStore:
    base = neo4j_settings()
    settings = Settings(
        store=StoreKind.NEO4J,
        neo4j_uri=uri,
        neo4j_password=base.neo4j_password,
        neo4j_batch=200,
        neo4j_retry_seconds=2.0,
    )
    return Neo4jStore.from_settings(settings)


def test_restarts_between_and_during_imports(server: Server, tmp_path: Path) -> None:
    city = tmp_path / "city"
    list(write_bundle(generate("small", seed=3), city))
    uri = server.start()
    store = _open(uri)
    # Between imports: a clean stop and start keeps everything.
    import_path(store, write_ledger(tmp_path / "l", small_city()))
    before = store.counts()
    server.stop()
    server.start()
    assert store.counts() == before

    # During an import: kill the server hard after the first batch has been sent.
    store.reset()
    killed = threading.Event()

    def progress(stage: str, total: int) -> Tick:
        def tick(n: int) -> None:
            if stage == "writing" and not killed.is_set():
                killed.set()
                server.kill()

        return tick

    with pytest.raises(StoreError):
        import_path(store, city, progress=progress)
    assert killed.is_set()
    store.close()
    server.start()
    store = _open(uri)
    assert store.counts() == {}, "a killed import must leave nothing behind"
    outcome = import_path(store, city)
    assert outcome.written == sum(t.created for t in outcome.tallies.values()) > 5000
    again = import_path(store, city)
    assert again.written == 0
    store.close()
