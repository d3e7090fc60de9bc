"""GraphQL lookups over real HTTP, as a front-end sends them: p50 and p99 per query.

The ids come from the ledger's CSV files (the same for every store), spread over the
whole city: every k-th village, unit, household, person. A district has fewer villages
than the calls asked for, so its ids are cycled.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path
from typing import Any

import httpx

DAY = "2026-06-30"

PAIRINGS = """
query ($id: ID!, $day: Date) {
  pairings(areaId: $id, asOf: $day) { id since unit { name } org { name } projects { name } }
}"""
DISPATCHES = """
query ($id: ID!, $day: Date) {
  dispatches(unitId: $id, asOf: $day) { id role person { name } area { name } }
}"""
SEARCH = """
query ($text: String!) {
  search(text: $text, first: 20) {
    ... on Area { id name }
    ... on PartyOrg { id name }
    ... on Unit { id name }
    ... on Person { id name }
  }
}"""
NODE = """
query ($id: ID!) {
  household(id: $id) { id name size building { id name parent { name } } }
}"""
CHAIN = """
query ($id: ID!) {
  responsibleChain(id: $id) { id name form }
}"""
ORG_CHART = """
query ($id: ID!) {
  orgChart(rootId: $id, depth: 3) { id parentId name form depth childCount memberCount }
}"""


def _rows(folder: Path, table: str) -> Iterator[dict[str, str]]:
    with (folder / f"{table}.csv").open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def _spread(values: list[str], n: int) -> list[str]:
    """``n`` values spread evenly over ``values``, cycled when there are fewer."""
    if len(values) >= n:
        step = len(values) / n
        return [values[int(i * step)] for i in range(n)]
    return list(islice(cycle(values), n))


def org_chart_root(folder: Path, at_least: int = 2000, depth: int = 3) -> tuple[str, int, int]:
    """The root of the largest chart ``depth`` levels deep among the party orgs with at
    least ``at_least`` orgs below them: the root, the orgs in its chart (itself included)
    and the orgs below it at any depth."""
    children: dict[str, list[str]] = defaultdict(list)
    for row in _rows(folder, "party_orgs"):
        children[row["parent_id"] or ""].append(row["id"])

    def levels(org: str, deepest: int) -> int:
        level, total = [org], 0
        for _ in range(deepest):
            level = [child for parent in level for child in children.get(parent, [])]
            if not level:
                break
            total += len(level)
        return total

    orgs = [org for org in children if org]
    below = {org: levels(org, len(children)) for org in orgs}
    roots = [org for org in orgs if below[org] >= at_least] or orgs
    charts = {org: levels(org, depth) for org in roots}
    root = max(charts, key=lambda org: (charts[org], org))
    return root, 1 + charts[root], below[root]


def plan(folder: Path, calls: int) -> dict[str, list[dict[str, Any]]]:
    """The variables of every timed call, per query."""
    villages = [r["id"] for r in _rows(folder, "areas") if r["kind"] in ("village", "community")]
    names = [r["name"] for r in _rows(folder, "areas") if r["kind"] in ("village", "community")]
    units = [r["id"] for r in _rows(folder, "units")]
    households = [r["id"] for r in _rows(folder, "households")]
    root, _, _ = org_chart_root(folder)
    return {
        "pairings(areaId)": [{"id": v, "day": DAY} for v in _spread(villages, calls)],
        "dispatches(unitId)": [{"id": u, "day": DAY} for u in _spread(units, calls)],
        "search(text)": [{"text": n} for n in _spread(names, calls)],
        "household(id)": [{"id": h} for h in _spread(households, calls)],
        "responsibleChain(id)": [{"id": h} for h in _spread(households[1::7], calls)],
        "orgChart(depth: 3)": [{"id": root}] * max(20, calls // 4),
    }


QUERIES = {
    "pairings(areaId)": PAIRINGS,
    "dispatches(unitId)": DISPATCHES,
    "search(text)": SEARCH,
    "household(id)": NODE,
    "responsibleChain(id)": CHAIN,
    "orgChart(depth: 3)": ORG_CHART,
}


def measure(url: str, folder: Path, calls: int) -> dict[str, dict[str, float]]:
    """Each query's calls in turn over one keep-alive connection, after 5 untimed ones;
    every reply is checked to carry data and no errors."""
    out: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=url, timeout=120) as http:
        for name, variables in plan(folder, calls).items():
            text = QUERIES[name]

            def call(values: dict[str, Any], text: str = text) -> dict[str, Any]:
                reply: dict[str, Any] = http.post(
                    "/graphql", json={"query": text, "variables": values}
                ).json()
                assert "errors" not in reply and reply.get("data"), reply
                return reply

            for values in variables[:5]:
                call(values)
            times = []
            returned = 0
            for values in variables:
                start = time.perf_counter()
                reply = call(values)
                times.append(time.perf_counter() - start)
                (answer,) = reply["data"].values()
                returned += len(answer) if isinstance(answer, list) else 1
            times.sort()
            out[name] = {
                "n": len(times),
                "p50_ms": 1000 * statistics.median(times),
                "p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))],
                "rows": returned / len(times),
            }
    return out
