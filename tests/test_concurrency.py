"""Two real processes at once, on every store: imports that race each other, and
``grassroots serve`` answering while ``grassroots import`` writes.

The races are made certain, not likely, by the test-only pause points of
``grassroots.graph.store.checkpoint`` (GRASSROOTS_TEST_HOOKS): the first import stops
inside its critical section, after it has checked and diffed and before it writes; the
second is started then, and the first is let go only once the second has found the
store busy (or, without a lock, has finished on its own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from grassroots.errors import StoreBusy
from grassroots.graph.duck import DuckStore
from grassroots.graph.neo4j import Neo4jStore
from grassroots.graph.store import Changes, Store
from grassroots.importers.ledger import import_path
from grassroots.sample.city import generate, write_bundle
from grassroots.schema import BY_NAME, Label, Node, RelType
from tests.conftest import release
from tests.ledgers import small_city, write_ledger
from tests.processes import Result, ask, finish, run, serving, start


class Pauses:
    """The pause points of one ``grassroots`` process, through its own folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "GRASSROOTS_TEST_HOOKS": str(self.folder)}

    def hold(self, point: str) -> None:
        """Pause the process the next time it reaches ``point`` (any earlier pass there
        is forgotten)."""
        (self.folder / f"{point}.reached").unlink(missing_ok=True)
        (self.folder / f"{point}.pause").touch()

    def release(self, point: str) -> None:
        (self.folder / f"{point}.pause").unlink(missing_ok=True)

    def wait_for(
        self, point: str, process: subprocess.Popen[str] | threading.Thread, seconds: float = 60
    ) -> bool:
        """Whether ``point`` is reached (False once ``process`` has ended without)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (self.folder / f"{point}.reached").exists():
                return True
            ended = (
                not process.is_alive()
                if isinstance(process, threading.Thread)
                else process.poll() is not None
            )
            if ended:
                return (self.folder / f"{point}.reached").exists()
            time.sleep(0.02)
        return False


def race(
    env: dict[str, str], tmp_path: Path, first: Path, second: Path
) -> tuple[Result, Result, bool]:
    """Import ``first``, paused after its check, and meanwhile ``second``: their results,
    and whether the second waited for the first."""
    one, two = Pauses(tmp_path / "pauses-1"), Pauses(tmp_path / "pauses-2")
    one.hold("checked")
    a = start("import", str(first), env=one.env(env))
    try:
        assert one.wait_for("checked", a), f"the first import never got to write: {finish(a).said}"
        b = start("import", str(second), env=two.env(env))
        waited = two.wait_for("busy", b)
    finally:
        one.release("checked")
    ra, rb = finish(a), finish(b)
    for result in (ra, rb):
        assert "Traceback" not in result.said and "internal error" not in result.said, result.said
    return ra, rb, waited


def stored_cycle(store: Store) -> list[str]:
    """A party-org cycle in the store, if there is one."""
    tree = store.snapshot().tree(Label.PARTY_ORG)
    for start_id in tree:
        seen: list[str] = []
        node: str | None = start_id
        while node is not None and node in tree:
            if node in seen:
                return seen
            seen.append(node)
            node = tree[node].parent
    return []


def two_free_orgs() -> dict[str, list[dict[str, Any]]]:
    ledger = small_city()
    ledger["party_orgs"] += [
        {"id": "K01", "name": "甲支部", "form": "branch", "parent_id": "", "area_id": "G2"},
        {"id": "K02", "name": "乙支部", "form": "branch", "parent_id": "", "area_id": "V"},
    ]
    return ledger


def test_two_imports_at_once_cannot_make_a_cycle(
    env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    ledger = two_free_orgs()
    assert run("import", str(write_ledger(tmp_path / "base", ledger)), env=env).returncode == 0
    k01, k02 = (dict(org) for org in ledger["party_orgs"][-2:])
    k01["parent_id"], k02["parent_id"] = "K02", "K01"
    x = write_ledger(tmp_path / "x", {"party_orgs": [k01]})
    y = write_ledger(tmp_path / "y", {"party_orgs": [k02]})
    assert run("import", "--dry-run", str(y), env=env).returncode == 0  # each alone is valid

    first, second, waited = race(env, tmp_path, x, y)

    assert first.returncode == 0, first.said
    assert second.returncode == 1, second.said
    assert "cycle" in second.stderr and "nothing was written" in second.stderr
    assert stored_cycle(store) == []
    release(store)  # the CLI's turn (DuckDB admits one process)
    # The store's own export imports again: nothing in it is invalid.
    assert run("export", str(tmp_path / "all.jsonl"), env=env).returncode == 0
    again = run("import", str(tmp_path / "all.jsonl"), env=env)
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.said
    assert waited, "the second import did not wait for the first"


def test_one_id_cannot_become_two_kinds_at_once(
    env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    assert (
        run("import", str(write_ledger(tmp_path / "base", small_city())), env=env).returncode == 0
    )
    area = {"id": "RT-DUP", "name": "东山第3网格", "kind": "grid", "parent_id": "K"}
    org = {"id": "RT-DUP", "name": "第3网格党支部", "form": "branch", "parent_id": "OK"}
    org["area_id"] = "G2"
    x = write_ledger(tmp_path / "x", {"areas": [area]})
    y = write_ledger(tmp_path / "y", {"party_orgs": [org]})

    first, second, waited = race(env, tmp_path, x, y)

    assert first.returncode == 0, first.said
    assert second.returncode == 1, second.said
    assert "'RT-DUP' is already stored as a" in second.stderr
    view = store.snapshot()
    node = view.nodes(["RT-DUP"])["RT-DUP"]
    assert (node.label, node.props["name"]) == (Label.AREA, area["name"])
    assert set(node.refs) == {RelType.WITHIN}  # no party org's references on it
    assert view.neighbours(["RT-DUP"], RelType.BUILT_ON, "out")["RT-DUP"] == []
    assert waited, "the second import did not wait for the first"


def test_two_identical_imports_at_once_the_second_finds_nothing_to_do(
    env: dict[str, str], tmp_path: Path
) -> None:
    folder = write_ledger(tmp_path / "l", small_city())

    first, second, waited = race(env, tmp_path, folder, folder)

    assert first.returncode == 0 and "10 created" in first.stdout, first.said
    assert second.returncode == 0, second.said
    assert "nothing changed" in second.stdout
    assert waited, "the second import did not wait for the first"


def test_an_import_that_waits_too_long_says_who_is_writing(
    env: dict[str, str], tmp_path: Path
) -> None:
    one = Pauses(tmp_path / "pauses")
    one.hold("checked")
    a = start("import", str(write_ledger(tmp_path / "l", small_city())), env=one.env(env))
    try:
        assert one.wait_for("checked", a), finish(a).said
        later = write_ledger(tmp_path / "later", {"areas": small_city()["areas"][:1]})
        began = time.monotonic()
        busy = run("import", str(later), env={**env, "GRASSROOTS_LOCK_SECONDS": "1"})
        waited = time.monotonic() - began
    finally:
        one.release("checked")
    assert finish(a).returncode == 0
    assert busy.returncode == 1, busy.said
    assert waited >= 1
    assert "another import is writing to this store since" in busy.stderr
    assert f"pid {a.pid})" in busy.stderr
    assert "wait for it to finish and run this import again" in busy.stderr
    assert "Traceback" not in busy.said


def test_the_lock_is_no_part_of_the_graph(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    import_path(store, write_ledger(tmp_path / "base", small_city()))
    counts, elements = store.counts(), list(store.elements())
    release(store)
    one = Pauses(tmp_path / "pauses")
    one.hold("checked")
    renamed = [dict(a, name=a["name"] + "（新）") for a in small_city()["areas"]]
    a = start("import", str(write_ledger(tmp_path / "r", {"areas": renamed})), env=one.env(env))
    try:
        assert one.wait_for("checked", a), finish(a).said
        busy = pytest.raises(StoreBusy, match="another import is writing to this store since")
        with busy, store.exclusive(timeout=0.5):
            pass
        if isinstance(store, DuckStore):  # one process at a time: a read waits, then says who
            store.lock_seconds = 0.5
            with pytest.raises(StoreBusy, match=f"writing to this store since .*pid {a.pid}"):
                store.counts()
            store.lock_seconds = 60
        else:
            assert store.counts() == counts and list(store.elements()) == elements
        if isinstance(store, Neo4jStore):
            assert store.read(LEASES)[0]["n"] == 1
    finally:
        one.release("checked")
    assert finish(a).returncode == 0
    assert store.counts() == counts
    if isinstance(store, Neo4jStore):
        assert store.read(LEASES)[0]["n"] == 0  # released at the end
    with store.exclusive(timeout=0.5):  # free again
        pass


LEASES = "MATCH (lease:GrassrootsLock) RETURN count(lease) AS n"


def test_a_killed_import_does_not_keep_the_store_locked(
    env: dict[str, str], tmp_path: Path
) -> None:
    one = Pauses(tmp_path / "pauses")
    one.hold("checked")
    folder = write_ledger(tmp_path / "l", small_city())
    a = start("import", str(folder), env=one.env(env))
    assert one.wait_for("checked", a), finish(a).said
    a.kill()  # inside its critical section, holding the lock
    assert finish(a).returncode != 0
    again = run("import", str(folder), env={**env, "GRASSROOTS_LOCK_SECONDS": "5"})
    assert again.returncode == 0 and "10 created" in again.stdout, again.said


def test_a_write_waiting_on_another_process_keeps_both_writes(
    store: Store, env: dict[str, str], tmp_path: Path
) -> None:
    """This process writes while another's import is inside its write transaction: once
    both have committed, this process sees both (it used to keep a stale copy)."""
    base = small_city()
    import_path(store, write_ledger(tmp_path / "base", base))
    view = store.snapshot()
    mine = view.nodes(["P1"])["P1"]
    if isinstance(store, DuckStore):
        # one process at a time: a view would keep the other out, so this process lets
        # go of the file, and its write waits to open it again
        del view
        release(store)
        view = store
    renamed = [dict(a, name=a["name"] + "（新）") for a in base["areas"]]
    pauses = Pauses(tmp_path / "pauses")
    pauses.hold("writing")
    other = start(
        "import", str(write_ledger(tmp_path / "r", {"areas": renamed})), env=pauses.env(env)
    )
    try:
        assert pauses.wait_for("writing", other), finish(other).said
        changed = Node(mine.label, {**mine.props, "name": "王伟（改）"}, mine.refs)
        writer = threading.Thread(target=view.write, args=(Changes(nodes=[changed]),))
        writer.start()
        time.sleep(0.5)  # our write now waits for theirs (or, on Neo4j, need not)
    finally:
        pauses.release("writing")
    writer.join(timeout=120)
    assert finish(other).returncode == 0
    for reader in (view, store, store.snapshot()):
        found = reader.nodes(["P1", "K"])
        assert found["P1"].props["name"] == "王伟（改）"
        assert found["K"].props["name"] == "东山社区（新）"


def test_a_write_leaves_snapshots_taken_before_it_as_they_were(tmp_path: Path) -> None:
    """The embedded store only (a Neo4j snapshot is the live store): a snapshot taken
    before a write goes on answering from the state it saw, and after the write the
    store answers what the file holds when it is opened anew."""
    store = DuckStore(tmp_path / "s")
    ledger = small_city()
    import_path(store, write_ledger(tmp_path / "base", ledger))
    before = store.snapshot()
    old = list(before.elements()), before.counts(), before.tree(Label.PARTY_ORG)
    changed = small_city()
    changed["areas"][4]["parent_id"] = "S"  # G1 moves up, under the subdistrict
    changed["areas"][4]["kind"] = "community"
    changed["party_orgs"][4]["parent_id"] = "OS"
    changed["areas"].append({"id": "G3", "name": "新网格", "kind": "grid", "parent_id": "K"})
    changed["posts"] = [dict(p, post="other") for p in changed["posts"]]
    import_path(store, write_ledger(tmp_path / "changed", changed))

    assert (list(before.elements()), before.counts(), before.tree(Label.PARTY_ORG)) == old
    ids = [n.id for n in store.elements() if isinstance(n, Node)]
    rels = (RelType.WITHIN, RelType.UNDER, RelType.HOLDS_POST, RelType.BUILT_ON)

    def state(reader: Store) -> Any:
        return (
            list(reader.elements()),
            reader.counts(),
            reader.tree(Label.AREA),
            [reader.neighbours(ids, rel, way) for rel in rels for way in ("out", "in")],
        )

    seen = state(store)
    before.close()
    store.close()
    fresh = DuckStore(tmp_path / "s")  # a new connection, reading the file
    assert state(fresh) == seen
    assert seen[0] != old[0]
    fresh.close()


# -- serve while an import runs --------------------------------------------------------


QUERY = """query Probe($id: ID!) {
  areas(first: 1) { totalCount }
  area(id: $id) { id parent { id } }
}"""


def _new_state_within(url: str, nodes: int, seconds: float) -> int | None:
    """The node count /healthz answers, asked until it is ``nodes`` (bounded)."""
    deadline = time.monotonic() + seconds
    while True:
        status, body = ask(url)
        count = body.get("nodes") if status == 200 else None
        if count == nodes or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_serve_answers_the_old_or_the_new_graph_while_an_import_runs(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Pollers on six threads (four on /healthz, which serve answers on worker threads
    beside each other) while imports run: one that adds most of a city, then renames
    of every area, each of which serve reloads."""
    city = generate("small", seed=11)
    old_rows = {t: rows for t, rows in city.items() if t in ("areas", "party_orgs")}
    list(write_bundle(old_rows, tmp_path / "old"))
    list(write_bundle(city, tmp_path / "new"))
    renames = []
    for round_ in range(1, 6):
        areas = [dict(a, name=f"{a['name']}（{round_}）") for a in city["areas"]]
        renames.append(write_ledger(tmp_path / f"rename-{round_}", {"areas": areas}))
    old_nodes = sum(len(rows) for rows in old_rows.values())
    new_nodes = sum(len(rows) for t, rows in city.items() if BY_NAME[t].is_node)
    assert new_nodes > old_nodes
    area_count = len(city["areas"])
    probe = next(a for a in city["areas"] if a["kind"] == "district")
    assert run("import", str(tmp_path / "old"), env=env).returncode == 0

    with serving(env) as (base, log, _):
        seen: dict[int, list[tuple[int | None, Any]]] = {}
        stop = threading.Event()
        variables = {"id": probe["id"]}

        def poll(number: int) -> None:
            answers = seen.setdefault(number, [])
            while not stop.is_set():
                if number < 4:
                    status, body = ask(f"{base}/healthz")
                    answers.append((status, body.get("nodes") if status == 200 else body))
                else:
                    status, body = ask(f"{base}/graphql", {"query": QUERY, "variables": variables})
                    answers.append((status, body))

        pollers = [threading.Thread(target=poll, args=(n,)) for n in range(6)]
        for poller in pollers:
            poller.start()
        try:
            time.sleep(0.5)
            imports = [run("import", str(tmp_path / "new"), env=env)]
            after = _new_state_within(f"{base}/healthz", new_nodes, seconds=60)
            for folder in renames:
                imports.append(run("import", str(folder), env=env))
                time.sleep(0.5)
        finally:
            stop.set()
            for poller in pollers:
                poller.join(timeout=120)
    for result in imports:
        assert result.returncode == 0, result.said
    # serve answers the new graph without a restart: at once, or once the reload that a
    # poller began (while the import was still running) is complete; a request during a
    # reload is answered from the whole old graph, never a half-built one
    assert after == new_nodes

    healths = [a for n, answers in seen.items() if n < 4 for a in answers]
    queries = [a for n, answers in seen.items() if n >= 4 for a in answers]
    assert len(healths) > 40 and len(queries) > 10
    for status, nodes in healths:
        assert status == 200 and nodes in (old_nodes, new_nodes), (status, nodes)
    for status, body in queries:
        assert status == 200 and "errors" not in body, body
        assert body["data"]["areas"]["totalCount"] == area_count, body
        assert body["data"]["area"] == {"id": probe["id"], "parent": {"id": probe["parent_id"]}}
    for number, answers in seen.items():  # each poller sees the new graph, then only it
        if number < 4:
            states = [nodes for _, nodes in answers]
            assert states[-1] == new_nodes
            assert old_nodes not in states[states.index(new_nodes) :]
    lines = "".join(log)
    assert "Traceback" not in lines and "Error" not in lines, lines[-3000:]


MUTATION = """mutation Add($input: AreaInput!) {
  addArea(input: $input) { __typename ... on Area { id name } ... on Failure { message } }
}"""


def test_a_mutation_sent_during_an_import_leaves_serve_with_both(
    env: dict[str, str], tmp_path: Path
) -> None:
    base = small_city()
    assert run("import", str(write_ledger(tmp_path / "base", base)), env=env).returncode == 0
    renamed = [dict(a, name=a["name"] + "（新）") for a in base["areas"]]
    folder = write_ledger(tmp_path / "renamed", {"areas": renamed})
    serve_pauses = Pauses(tmp_path / "serve-pauses")
    writer = {**serve_pauses.env(env), "GRASSROOTS_API_TOKENS": "planner-token=write"}
    with serving(writer) as (url, log, _):
        pauses = Pauses(tmp_path / "pauses")
        pauses.hold("writing")
        other = start("import", str(folder), env=pauses.env(env))
        answer: list[tuple[int, Any]] = []
        try:
            assert pauses.wait_for("writing", other), finish(other).said
            area = {"id": "G3", "name": "东山第3网格", "kind": "GRID", "parentId": "K"}
            mutation = {"query": MUTATION, "variables": {"input": area}}
            sender = threading.Thread(
                target=lambda: answer.append(ask(f"{url}/graphql", mutation, "planner-token"))
            )
            sender.start()
            deadline = time.monotonic() + 10
            while not (serve_pauses.folder / "busy.reached").exists() and not answer:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            # the mutation waits for the import's critical section; serve meanwhile
            # answers other requests at once (the wait is off its event loop)
            asked = time.monotonic()
            meanwhile = ask(f"{url}/graphql", {"query": '{ area(id: "K") { name } }'})
            waited = time.monotonic() - asked
        finally:
            pauses.release("writing")
        sender.join(timeout=120)
        assert finish(other).returncode == 0
        assert meanwhile == (200, {"data": {"area": {"name": "东山社区"}}}), meanwhile
        assert waited < 5, f"a query waited {waited:.1f} s behind a mutation"
        status, body = answer[0]
        assert status == 200 and body.get("data"), body
        assert body["data"]["addArea"]["__typename"] == "Area", body
        query = '{ k: area(id: "K") { name } g3: area(id: "G3") { name parent { id } } }'
        status, body = ask(f"{url}/graphql", {"query": query})
    assert body["data"] == {
        "k": {"name": "东山社区（新）"},
        "g3": {"name": "东山第3网格", "parent": {"id": "K"}},
    }, body
    assert "Traceback" not in "".join(log)


# -- the CLI beside a running serve: the hand-off on DuckDB, the same answers everywhere ---

HANDED = "handed to the running grassroots serve at http://127.0.0.1:"


def _said_to_be_handed(store: Store, result: Result, process: subprocess.Popen[str]) -> None:
    """On DuckDB the CLI says, in one line, that serve did its work; elsewhere nothing."""
    handed = [line for line in result.stderr.splitlines() if line.startswith(HANDED)]
    if isinstance(store, DuckStore):
        assert handed and handed[0].endswith(f"(pid {process.pid})"), result.said
    else:
        assert not handed, result.said


def _imported(env: dict[str, str], folder: Path) -> None:
    done = run("import", str(folder), env=env)
    assert done.returncode == 0, done.said


def _without_handed(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(HANDED)]


def test_coverage_and_export_while_serve_runs_answer_as_without_it(
    env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    assert (
        run("import", str(write_ledger(tmp_path / "base", small_city())), env=env).returncode == 0
    )
    report = ["coverage", "--pack", "all", "--as-of", "2026-06-30", "--format", "json"]
    with serving(env) as (_, log, process):
        during = run(*report, env=env)
        exported = run("export", str(tmp_path / "during.jsonl"), env=env)
        scoped = run("coverage", "--scope", "东山社区", "--format", "json", env=env)
    alone = run(*report, env=env)
    assert run("export", str(tmp_path / "alone.jsonl"), env=env).returncode == 0
    for result in (during, exported, scoped):
        assert result.returncode == 0, result.said
        assert "Traceback" not in result.said
        _said_to_be_handed(store, result, process)
    assert during.stdout == alone.stdout and json.loads(during.stdout)["rules"]
    assert json.loads(scoped.stdout)["scope"] == "K"
    during_dump = (tmp_path / "during.jsonl").read_text(encoding="utf-8")
    assert during_dump == (tmp_path / "alone.jsonl").read_text(encoding="utf-8")
    assert "东山社区" in during_dump
    assert "Traceback" not in "".join(log)


def test_an_import_beside_serve_is_answered_at_once(
    env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    base = small_city()
    assert run("import", str(write_ledger(tmp_path / "base", base)), env=env).returncode == 0
    renamed = [dict(a, name=a["name"] + "（新）") for a in base["areas"]]
    query = {"query": '{ k: area(id: "K") { name } }'}
    with serving(env) as (url, log, process):
        assert ask(f"{url}/graphql", query)[1]["data"] == {"k": {"name": "东山社区"}}
        done = run("import", str(write_ledger(tmp_path / "r", {"areas": renamed})), env=env)
        status, body = ask(f"{url}/graphql", query)  # at once: no restart, no polling
        again = run("import", str(tmp_path / "r"), env=env)
    assert done.returncode == 0 and "0 created      10 updated" in done.stdout, done.said
    _said_to_be_handed(store, done, process)
    assert status == 200 and body["data"] == {"k": {"name": "东山社区（新）"}}, body
    assert again.returncode == 0 and "nothing changed" in again.stdout, again.said
    lines = "".join(log)
    assert "Traceback" not in lines
    assert '"POST /graphql' in lines and "/_local" not in lines, lines[-2000:]  # hand-off: quiet


def test_a_broken_import_beside_serve_says_the_same_and_writes_nothing(
    env: dict[str, str], store: Store, tmp_path: Path
) -> None:
    assert (
        run("import", str(write_ledger(tmp_path / "base", small_city())), env=env).returncode == 0
    )
    broken = small_city()
    broken["areas"][4]["kind"] = "小区"
    broken["areas"][0]["name"] = "大连市（改）"
    broken["dispatches"] = [
        {
            "id": "X1",
            "person_id": "P1",
            "unit_id": "U1",
            "area_id": "HK9",
            "role": "resident",
            "since": "2026-01-01",
        }
    ]
    folder = write_ledger(tmp_path / "broken", broken)
    alone = run("import", str(folder), env=env)
    query = {"query": '{ c: area(id: "C") { name } areas(first: 1) { totalCount } }'}
    with serving(env) as (url, log, process):
        before = ask(f"{url}/graphql", query)
        during = run("import", str(folder), env=env)
        after = ask(f"{url}/graphql", query)
    assert alone.returncode == during.returncode == 1, (alone.said, during.said)
    assert "areas row 6 kind:" in alone.stderr and "row 2 area_id:" in alone.stderr
    assert _without_handed(during.stderr) == alone.stderr.splitlines()
    assert during.stdout == alone.stdout
    _said_to_be_handed(store, during, process)
    assert before == after and after[1]["data"]["c"] == {"name": "大连市"}, after
    assert "Traceback" not in "".join(log)


def test_a_stale_serve_file_is_ignored(duck_env: dict[str, str], tmp_path: Path) -> None:
    """serve killed with -9 leaves its serve.json: the CLI opens the store itself."""
    folder = write_ledger(tmp_path / "l", small_city())
    with serving(duck_env) as (_, _log, process):
        announced = Path(duck_env["GRASSROOTS_DATA"]) / "serve.json"
        assert announced.stat().st_mode & 0o777 == 0o600
        process.kill()
        process.wait()
    assert announced.exists()  # it could not remove it
    done = run("import", str(folder), env=duck_env)
    assert done.returncode == 0 and "10 created" in done.stdout, done.said
    assert HANDED not in done.stderr and "Traceback" not in done.said


def test_a_copy_of_a_served_folder_is_no_part_of_its_serve(
    duck_env: dict[str, str], tmp_path: Path
) -> None:
    """A folder copied while serve holds it carries serve.json along: a command on the
    copy writes into the copy, never into the served original."""
    folder = write_ledger(tmp_path / "l", small_city())
    with serving(duck_env) as (url, log, _):
        copy = tmp_path / "copy"
        shutil.copytree(duck_env["GRASSROOTS_DATA"], copy)
        assert (copy / "serve.json").exists()
        done = run("import", str(folder), env={**duck_env, "GRASSROOTS_DATA": str(copy)})
        assert done.returncode == 0 and "10 created" in done.stdout, done.said
        assert HANDED not in done.stderr, done.said
        status, answer = ask(f"{url}/graphql", {"query": "{ areas { totalCount } }"})
        assert status == 200 and answer["data"]["areas"]["totalCount"] == 0, "".join(log)
    with DuckStore(copy) as copied:
        assert copied.counts()[Label.AREA.value] > 0


def test_serve_stopped_by_sigterm_takes_its_files_with_it(duck_env: dict[str, str]) -> None:
    """kill, systemd and docker stop send SIGTERM: serve.json and the holder record go."""
    data = Path(duck_env["GRASSROOTS_DATA"])
    with serving(duck_env) as (_, log, process):
        assert (data / "serve.json").exists() and (data / "grassroots.holder.json").exists()
        process.terminate()
        process.wait(timeout=60)
    assert not (data / "serve.json").exists(), "".join(log)
    assert not (data / "grassroots.holder.json").exists(), "".join(log)


def test_the_hand_off_answers_its_secret_only(duck_env: dict[str, str], tmp_path: Path) -> None:
    with serving(duck_env) as _:
        record = json.loads((Path(duck_env["GRASSROOTS_DATA"]) / "serve.json").read_text())
        counts = f"{record['url']}/_local/counts"
        assert record["url"].startswith("http://127.0.0.1:")
        assert ask(counts, {}, token=record["secret"]) == (200, {})
        assert ask(counts, {}, token="not-" + record["secret"])[0] == 401
        assert ask(counts, {})[0] == 401
        query = f"{record['url']}/_local/query"
        copy = f"COPY (SELECT 42) TO '{tmp_path / 'out.csv'}'"
        for sql in (
            'DELETE FROM "Area"',
            'SELECT 1; DELETE FROM "Area"',  # DuckDB runs every statement of a text
            f"WITH x AS (SELECT 1) SELECT 2; {copy}",
            "SELECT 1 FROM",  # no statement at all
        ):
            status, body = ask(query, {"sql": sql, "params": {}}, token=record["secret"])
            assert status == 409 and "one SQL read" in body, (sql, body)
        assert not (tmp_path / "out.csv").exists()
        for call, payload in (("lease", {}), ("renew", {}), ("query", {})):
            status, body = ask(f"{record['url']}/_local/{call}", payload, token=record["secret"])
            assert status == 409 and "Traceback" not in body, (call, status, body)
            assert call == "query" or "malformed" in body, (call, body)
        status, body = ask(query, {"sql": "SELECT 7", "params": {}}, token=record["secret"])
        assert status == 200, body


def test_the_hand_off_keeps_every_value_exactly(duck_env: dict[str, str], tmp_path: Path) -> None:
    """Nodes, links and SQL rows through a serve come back as the store holds them."""
    from grassroots.graph.served import ServedStore, running

    data = Path(duck_env["GRASSROOTS_DATA"])
    assert (
        run("import", str(write_ledger(tmp_path / "l", small_city())), env=duck_env).returncode == 0
    )
    area = Node(
        Label.AREA,
        {
            "id": "G9",
            "name": "第9网格「新」",
            "kind": "grid",
            "households": 12,  # an int in extra
            "area_km2": 1.0,  # a float that looks like an int
            "since": "2026-06-30",
            "flag": True,
            "备注": {"nested": [1, 2.5, None, "二"]},
        },
        {RelType.WITHIN: "K"},
    )
    sql = """
SELECT DATE '2026-06-30', 1.0::DOUBLE, 2::BIGINT, '东山', [DATE '2020-02-29'], NULL, true,
       1.25::DECIMAL(4, 2), TIMESTAMP '2026-06-30 12:34:56', $day::DATE + 1
"""
    params = {"day": date(2026, 6, 30)}
    with serving(duck_env) as _:
        server = running(data)
        assert server is not None
        served = ServedStore(server)
        served.write(Changes(nodes=[area]))
        through = served.nodes(["G9", "K", "nobody"]), served.query(sql, params)
        links = served.links([(RelType.WITHIN, "G9")])
        neighbours = served.neighbours(["K"], RelType.WITHIN, "in")
        secretaries = served.neighbours(["OK"], RelType.HOLDS_POST, "in", {"post": ["secretary"]})
        page = served.find(Label.AREA, search="网格")
        exported = list(served.elements())
        below = served.descendants(["K"], RelType.WITHIN), served.nodes(["K"], Label.AREA)
        above = served.ancestors(["G9"], [RelType.WITHIN])
        served.close()
    direct = DuckStore(data)
    try:
        assert through == (direct.nodes(["G9", "K"]), direct.query(sql, params))
        assert through[0]["G9"] == area
        assert links == direct.links([(RelType.WITHIN, "G9")])
        assert neighbours == direct.neighbours(["K"], RelType.WITHIN, "in")
        assert secretaries == direct.neighbours(
            ["OK"], RelType.HOLDS_POST, "in", {"post": ["secretary"]}
        )
        assert [person for person, _ in secretaries["OK"]] == ["P1"]
        assert page == direct.find(Label.AREA, search="网格") and page.total == 3
        assert exported == list(direct.elements())
        assert below == (direct.descendants(["K"], RelType.WITHIN), direct.nodes(["K"], Label.AREA))
        assert len(below[0]) > 1 and below[1]
        assert above == direct.ancestors(["G9"], [RelType.WITHIN]) and len(above) > 1
    finally:
        direct.close()


def test_serve_stopping_mid_import_says_so_and_writes_nothing(
    duck_env: dict[str, str], tmp_path: Path
) -> None:
    base = small_city()
    assert run("import", str(write_ledger(tmp_path / "base", base)), env=duck_env).returncode == 0
    renamed = write_ledger(tmp_path / "r", {"areas": [dict(a, name="改") for a in base["areas"]]})
    pauses = Pauses(tmp_path / "pauses")
    pauses.hold("writing")
    with serving(duck_env) as (_, _log, process):
        cli = start("import", str(renamed), env=pauses.env(duck_env))
        try:
            assert pauses.wait_for("writing", cli), finish(cli).said
            process.kill()
            process.wait()
        finally:
            pauses.release("writing")
        stopped = finish(cli)
    assert stopped.returncode == 1, stopped.said
    assert "Traceback" not in stopped.said
    (line,) = [x for x in stopped.stderr.splitlines() if x.startswith("error:")]
    assert f"(pid {process.pid}) stopped while writing" in line and "run this again" in line
    direct = DuckStore(Path(duck_env["GRASSROOTS_DATA"]))
    assert direct.nodes(["K"])["K"].props["name"] == "东山社区"  # nothing half-written
    direct.close()


def test_a_killed_cli_does_not_keep_serve_locked(duck_env: dict[str, str], tmp_path: Path) -> None:
    """A CLI killed inside its critical section on serve (holding the lease): serve lets
    go of it once it is not renewed, and the next import goes through."""
    folder = write_ledger(tmp_path / "l", small_city())
    pauses = Pauses(tmp_path / "pauses")
    pauses.hold("checked")
    with serving(duck_env) as (_, log, _process):
        cli = start("import", str(folder), env=pauses.env(duck_env))
        assert pauses.wait_for("checked", cli), finish(cli).said
        cli.kill()
        finish(cli)
        again = run("import", str(folder), env={**duck_env, "GRASSROOTS_LOCK_SECONDS": "40"})
    assert again.returncode == 0 and "10 created" in again.stdout, again.said
    assert HANDED in again.stderr and "Traceback" not in "".join(log)


def test_leases_leave_no_cursor_behind(tmp_path: Path) -> None:
    """Each handed-off import holds a lease on a thread of its own; when it ends, so does
    that thread's DuckDB cursor, however many imports a long-running serve takes."""
    from grassroots.api.local import serving as local
    from grassroots.graph.served import ServedStore, Server

    store = DuckStore(tmp_path / "duck")
    try:
        with local(store, "s3cret") as url:
            served = ServedStore(Server(url, os.getpid(), "s3cret"))
            counts = []
            for n in range(4):
                area = Node(Label.AREA, {"id": f"C{n}", "name": f"第{n}区", "kind": "city"})
                with served.exclusive():
                    served.write(Changes(nodes=[area]))
                deadline = time.monotonic() + 10
                while len(store._cursors) > 1 and time.monotonic() < deadline:
                    time.sleep(0.02)  # the lease's thread closes its cursor as it ends
                counts.append(len(store._cursors))
            served.close()
        assert counts == [counts[0]] * 4 and counts[0] <= 1, counts
        assert sorted(store.nodes([f"C{n}" for n in range(4)])) == ["C0", "C1", "C2", "C3"]
    finally:
        store.close()
