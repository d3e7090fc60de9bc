"""Round-trip budgets of the API, on both stores (NetBox's query_counts.py is the
model): each top-level lookup costs the same number of store reads for a page of 10 as
for a page of 100, and a slow read holds only the request that made it, never the event
loop that answers every other."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from grassroots.api.app import create_app
from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.settings import Settings
from tests.counting import CountingReads
from tests.ledgers import Ledger, small_city, write_ledger
from tests.processes import free_port

LOOKUPS = {
    "pairings": """{ pairings(orgId: "OK", asOf: "2026-06-30") {
        id since unit { name } org { name } area { name } responsible { name }
        projects { name } } }""",
    "dispatches": """{ dispatches(areaId: "K", asOf: "2026-06-30") {
        id role person { name } unit { name } area { name } } }""",
    "orgChart": """{ orgChart(rootId: "OK", depth: 3, asOf: "2026-06-30") {
        id parentId name childCount secretary { name } } }""",
    "responsibleChain": """{ partyOrgs(form: GROUP, first: 200) { edges { node {
        id responsibleChain { id name } } } } }""",
    "householdChains": """{ area(id: "B1") { households(first: 200) { edges { node {
        id responsibleChain { id } } } } } }""",
}


def wide(n: int) -> Ledger:
    """``n`` more of everything a lookup lists: pairings with 东山社区党委 (OK), each with
    a unit, a responsible leader and a project; dispatches to 东山社区 (K); leaf groups
    under 第1网格党支部 (OG1), each with a secretary; households in 1号楼 (B1)."""
    ledger: Ledger = {table: [] for table in ("units", "people", "employments", "pairings")}
    ledger.update({table: [] for table in ("projects", "dispatches", "party_orgs", "posts")})
    ledger["households"] = []
    for i in range(1, n + 1):
        ledger["units"].append({"id": f"WU{i}", "name": f"单位{i}", "kind": "agency"})
        ledger["people"].append({"id": f"WP{i}", "name": f"干部{i}", "party_member": "true"})
        ledger["employments"].append(
            {"person_id": f"WP{i}", "unit_id": f"WU{i}", "leadership": "true"}
        )
        ledger["pairings"].append(
            {
                "id": f"WPR{i}",
                "unit_id": f"WU{i}",
                "org_id": "OK",
                "responsible_id": f"WP{i}",
                "since": "2024-01-01",
            }
        )
        ledger["projects"].append({"id": f"WPJ{i}", "pairing_id": f"WPR{i}", "name": f"项目{i}"})
        ledger["dispatches"].append(
            {
                "id": f"WDP{i}",
                "person_id": f"WP{i}",
                "unit_id": f"WU{i}",
                "area_id": "K",
                "role": "liaison",
                "since": "2024-01-01",
            }
        )
        ledger["party_orgs"].append(
            {
                "id": f"WL{i}",
                "name": f"第{i}党小组",
                "form": "group",
                "parent_id": "OG1",
                "area_id": "B1",
            }
        )
        ledger["posts"].append({"person_id": f"WP{i}", "org_id": f"WL{i}", "post": "secretary"})
        ledger["households"].append({"id": f"WH{i}", "building_id": "B1", "name": f"1-{i}"})
    return ledger


def listed(lookup: str, answer: dict[str, Any]) -> int:
    """How many items the lookup's answer lists (so that the page is known to be full)."""
    value = answer["data"]
    if lookup == "householdChains":
        value = value["area"]["households"]
    value = next(iter(value.values()))
    return len(value["edges"] if isinstance(value, dict) else value)


def test_a_page_of_100_costs_what_a_page_of_10_does(store: Store, tmp_path: Path) -> None:
    import_path(store, write_ledger(tmp_path / "city", small_city()))
    calls: Counter[str] = Counter()
    http = TestClient(create_app(Settings(), store, reads=CountingReads.factory(calls)))

    def cost(query: str) -> tuple[int, dict[str, Any]]:
        calls.clear()
        reply = http.post("/graphql", json={"query": query})
        assert reply.status_code == 200 and "errors" not in reply.json(), reply.text
        return sum(calls.values()), reply.json()

    costs: dict[int, dict[str, int]] = {}
    for n in (10, 100):
        import_path(store, write_ledger(tmp_path / f"wide{n}", wide(n)))
        costs[n] = {}
        for lookup, query in LOOKUPS.items():
            costs[n][lookup], answer = cost(query)
            assert listed(lookup, answer) >= n, (lookup, answer)
    # the same bound for 10 or 100, not always the same count: a level's loads may split
    # into two batches when the reads they wait for finish on the pool's threads at
    # different moments; one read per item would add 90
    for lookup, cost_of_10 in costs[10].items():
        assert costs[100][lookup] <= cost_of_10 + 2, costs
    # a bound per lookup, whatever the page: an org chart three levels deep reads its
    # tree once, not once per level (levels + constant at most)
    assert max(costs[100].values()) <= 8, costs
    assert costs[100]["orgChart"] <= 3 + 3, costs


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[str]:
    """A real uvicorn server over ``store``, in this process: one event loop for every
    request (a test client runs each request on a loop of its own)."""
    import_path(store, write_ledger(tmp_path / "city", small_city()))
    port = free_port()
    config = uvicorn.Config(
        create_app(Settings(), store), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_held_read_does_not_hold_the_event_loop(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    monkeypatch.setenv("GRASSROOTS_TEST_HOOKS", str(hooks))
    (hooks / "read-find.pause").touch()  # a search's read waits there until released
    slow: dict[str, Any] = {}

    def search() -> None:
        query = '{ people(search: "王") { edges { node { id name } } } }'
        slow["reply"] = httpx.post(f"{served}/graphql", json={"query": query}, timeout=60)

    held = threading.Thread(target=search)
    held.start()
    deadline = time.monotonic() + 20
    while not (hooks / "read-find.reached").exists():
        assert time.monotonic() < deadline, "the search never reached its read"
        time.sleep(0.02)
    try:
        # the search is held inside its store read: others are answered meanwhile
        health = httpx.get(f"{served}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["nodes"] > 0, health.text
        lookup = httpx.post(
            f"{served}/graphql", json={"query": '{ area(id: "K") { name } }'}, timeout=5
        )
        assert lookup.json() == {"data": {"area": {"name": "东山社区"}}}, lookup.text
        assert held.is_alive() and "reply" not in slow
    finally:
        (hooks / "read-find.pause").unlink()
    held.join(30)
    people = slow["reply"].json()["data"]["people"]["edges"]
    assert [e["node"]["id"] for e in people] == ["P1"]
