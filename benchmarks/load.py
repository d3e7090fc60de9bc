"""Lookups under load: a real ``grassroots serve`` on loopback, on a store that already
holds the ledger, driven by an async httpx client that keeps a fixed number of requests
in flight (8, then a few hundred: ``LEVELS``), for a bounded total of mixed lookups
(pairings, dispatches, responsibleChain, orgChart, search: lookups.py's queries and
ids), in three phases, each lookup's p50 and p99 measured from its send to its answer:

- idle: the lookups alone;
- report: while the full coverage report (every pack) is asked of the same server over
  GraphQL, one at a time, again as soon as one ends, until the lookups are done;
- import: while ``grassroots import`` runs in another process, again and again until the
  lookups are done, alternating a changed copy of the ledger and the ledger itself so
  that every import writes. On the embedded store the import is handed to the running
  serve (graph/served.py); on Neo4j it writes to the server beside serve's reads.

Every reply is checked (HTTP 200, data, no errors); the failures are counted, not
timed. A request's time includes its wait behind the others in flight: with C requests
in flight and T answered per second, each waits about C / T. The client runs on the
same machine as the server, and takes its share of the cores.

    python benchmarks/load.py --scale district --store local   # imports first
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import lookups
from processes import grassroots, serve

PHASES = ("idle", "report", "import")
MIXED = (
    "pairings(areaId)",
    "dispatches(unitId)",
    "responsibleChain(id)",
    "orgChart(depth: 3)",
    "search(text)",
)
REPORT = """
query ($day: Date) {
  coverage(packs: ["all"], asOf: $day) {
    rules { id checked satisfied gaps(first: 20) { totalCount edges { node { id path } } } }
  }
}"""
# The bench's serve lets a whole report take its time: the API's default limit (10 s,
# GRASSROOTS_API_TIME_LIMIT) is for a front-end's request, and a city's report is longer.
SERVE_ENV = {"GRASSROOTS_API_TIME_LIMIT": "3600"}


@dataclass
class Phase:
    """One phase's figures: per query its timings (s) and failures, and what ran beside."""

    times: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)  # each query's first failure
    seconds: float = 0.0
    beside: list[float] = field(default_factory=list)  # each background job's seconds
    beside_failed: int = 0

    def figures(self) -> dict[str, Any]:
        queries = {}
        for name in sorted({*self.times, *self.failed}, key=MIXED.index):
            times = self.times.get(name, [])
            ordered = sorted(times) or [0.0]
            queries[name] = {
                "n": len(times),
                "failed": self.failed.get(name, 0),
                "p50_ms": 1000 * statistics.median(ordered),
                "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            }
        answered = sum(len(t) for t in self.times.values())
        return {
            "queries": queries,
            "seconds": self.seconds,
            "per_s": answered / self.seconds if self.seconds else 0.0,
            "beside_n": len(self.beside),
            "beside_s": statistics.median(self.beside) if self.beside else 0.0,
            "beside_failed": self.beside_failed,
            "why": self.why,
        }


def mixed(folder: Path, total: int, seed: int = 11) -> list[tuple[str, dict[str, Any]]]:
    """``total`` lookups in a fixed shuffled order, in lookups.plan's proportions: four
    of each simple lookup for every orgChart (about one call in 17)."""
    planned = lookups.plan(folder, max(1, (4 * total) // 17 + 1))
    calls = [(name, values) for name in MIXED for values in planned[name]]
    random.Random(seed).shuffle(calls)
    return calls[:total]


async def drive(
    url: str, calls: list[tuple[str, dict[str, Any]]], concurrency: int, phase: Phase
) -> None:
    """Send ``calls`` with ``concurrency`` of them in flight, each timed on its own."""
    pending = iter(calls)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:

        async def worker() -> None:
            for name, values in pending:  # one shared iterator: each call is sent once
                body = {"query": lookups.QUERIES[name], "variables": values}
                start = time.perf_counter()
                try:
                    reply = await http.post("/graphql", json=body)
                    why = _failure(reply)
                except httpx.HTTPError as exc:
                    why = f"{exc.__class__.__name__}: {exc}"
                if why is None:
                    phase.times.setdefault(name, []).append(time.perf_counter() - start)
                else:
                    phase.failed[name] = phase.failed.get(name, 0) + 1
                    phase.why.setdefault(name, why[:200])

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - start


def _failure(reply: httpx.Response) -> str | None:
    """Why a reply is no answer (not 200, no data, errors), or None when it is one."""
    if reply.status_code != 200:
        return f"HTTP {reply.status_code}: {reply.text}"
    answer = reply.json()
    if "errors" in answer or not answer.get("data"):
        return str(answer.get("errors") or "no data")
    return None


@contextmanager
def beside(job: Callable[[], bool], phase: Phase) -> Iterator[None]:
    """``job`` run again and again on a thread while the block runs (and its last run
    to its end); each run's time, or its failure, goes to ``phase``."""
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            start = time.perf_counter()
            if job():
                phase.beside.append(time.perf_counter() - start)
            else:
                phase.beside_failed += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(0.2)  # the job under way before the lookups start
    try:
        yield
    finally:
        done.set()
        thread.join()


def report_job(url: str, day: str) -> Callable[[], bool]:
    def job() -> bool:
        try:
            reply = httpx.post(
                f"{url}/graphql", json={"query": REPORT, "variables": {"day": day}}, timeout=3600
            )
        except httpx.HTTPError:
            return False
        why = _failure(reply)
        if why is not None:
            sys.stderr.write(f"load: the report failed: {why[:500]}\n")
        return why is None

    return job


def changed_copy(folder: Path, target: Path) -> Path:
    """The ledger with every household's size one more: an import of it writes every
    household, and an import of the original after it writes them back."""
    shutil.copytree(folder, target)
    path = target / "households.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        names = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        row["size"] = str(int(row["size"] or 0) + 1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, names)
        writer.writeheader()
        writer.writerows(rows)
    return target


class Imports:
    """``grassroots import`` of each ledger in turn, as a process of its own; ``last`` is
    the ledger the store last took."""

    def __init__(self, ledgers: list[Path], env: dict[str, str]) -> None:
        self.ledgers, self.env, self.turn = ledgers, env, 0
        self.last = ledgers[-1]  # the store holds the ledger itself at the start

    def __call__(self, ledger: Path | None = None) -> bool:
        if ledger is None:
            ledger, self.turn = self.ledgers[self.turn % len(self.ledgers)], self.turn + 1
        ran = subprocess.run(
            [*grassroots(), "import", str(ledger)], env=self.env, capture_output=True, check=False
        )
        if ran.returncode != 0:
            sys.stderr.write(ran.stderr.decode("utf-8", "replace"))
            return False
        self.last = ledger
        return True


LEVELS = ((8, 400), (200, 2000))
"""(requests in flight, lookups) per measure: a department's front-ends, whose p99 shows
whether a lookup waits for a report or an import; and a few hundred at once, whose p99 is
mostly the wait behind the others (about C / T)."""


def measure(
    env: dict[str, str],
    folder: Path,
    *,
    levels: Sequence[tuple[int, int]] = LEVELS,
    day: str = lookups.DAY,
    note: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """The three phases against a ``grassroots serve`` of the store ``env`` names, which
    must already hold the ledger in ``folder``; the store holds it again afterwards. In
    each phase every level of ``levels`` runs in turn, beside the same background job."""
    plans = [(concurrency, mixed(folder, total)) for concurrency, total in levels]
    warm = mixed(folder, 50, seed=3)
    out: dict[str, Any] = {
        "levels": [
            {"concurrency": concurrency, "total": len(calls), "phases": {}}
            for concurrency, calls in plans
        ]
    }
    with (
        tempfile.TemporaryDirectory(prefix="grassroots-load-") as tmp,
        serve({**env, **SERVE_ENV}) as served,
    ):
        imports = Imports([changed_copy(folder, Path(tmp) / "changed"), folder], env)
        asyncio.run(drive(served.url, warm, 10, Phase()))  # untimed
        jobs: dict[str, Callable[[], bool] | None] = {
            "idle": None,
            "report": report_job(served.url, day),
            "import": imports,
        }
        for name, job in jobs.items():
            background = Phase()
            phases = [Phase() for _ in plans]
            with nullcontext() if job is None else beside(job, background):
                for (concurrency, calls), phase in zip(plans, phases, strict=True):
                    note(f"load: {len(calls)} lookups, {concurrency} in flight, {name}")
                    asyncio.run(drive(served.url, calls, concurrency, phase))
            for level, phase in zip(out["levels"], phases, strict=True):
                phase.beside, phase.beside_failed = background.beside, background.beside_failed
                level["phases"][name] = phase.figures()
        if imports.last != folder and not imports(folder):  # the store as it was
            raise SystemExit(f"load: the store could not take {folder} back")
    out["serve_rss_mb"] = served.rss_mb
    return out


def section(r: dict[str, Any], title: str, lookup_aim: float, org_chart_aim: float) -> list[str]:
    """The "under load" tables of one store and scale, one per level, as markdown lines."""
    lines: list[str] = []
    for level in r["levels"]:
        lines += _level(level, title, lookup_aim, org_chart_aim)
    return [
        *lines,
        f"Aims (p99): {lookup_aim:g} ms for a lookup, {org_chart_aim:g} ms for orgChart"
        " (depth: 3); **over** marks a p99 above its aim. Peak RSS of `grassroots serve`"
        f" through the three phases: {r['serve_rss_mb']:,.0f} MB.",
        "",
    ]


def _level(r: dict[str, Any], title: str, lookup_aim: float, org_chart_aim: float) -> list[str]:
    figures = r["phases"]
    lines = [
        f"### {title}: lookups under load, {r['concurrency']} in flight",
        "",
        f"{r['total']:,} mixed lookups per phase, {r['concurrency']} in flight (async httpx"
        " on the same machine), each timed from its send to its answer, its wait behind"
        " the others included. Beside them: nothing (idle); the full report of every pack"
        " over GraphQL, again as each ends (report); `grassroots import` of a changed"
        " ledger and back, again as each ends (import).",
        "",
        "| phase | answered per s | beside: runs, median, failed |"
        + "".join(f" {q} p50 / p99 |" for q in MIXED)
        + " failed |",
        "| --- | --- | --- |" + " --- |" * len(MIXED) + " --- |",
    ]
    for name in PHASES:
        p = figures[name]
        done = (
            f"{p['beside_n']} runs, {p['beside_s']:.1f} s, {p['beside_failed']} failed"
            if name != "idle"
            else ""
        )
        cells = []
        for q in MIXED:
            x = p["queries"].get(q, {"p50_ms": 0.0, "p99_ms": 0.0})
            aim = org_chart_aim if q.startswith("orgChart") else lookup_aim
            mark = "" if x["p99_ms"] <= aim else " **over**"
            cells.append(f" {x['p50_ms']:.0f} / {x['p99_ms']:.0f} ms{mark} |")
        failed = sum(x["failed"] for x in p["queries"].values())
        lines.append(f"| {name} | {p['per_s']:,.0f} | {done} |" + "".join(cells) + f" {failed} |")
    failures = [
        f"- {name}, {query}, the first failure: {why}"
        for name in PHASES
        for query, why in figures[name]["why"].items()
    ]
    return [*lines, "", *failures, *([""] if failures else [])]


def main() -> None:
    import run  # the bench's ledgers and environments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="district", choices=["small", "district", "city"])
    parser.add_argument("--store", default="local", choices=["local", "neo4j"])
    parser.add_argument("--concurrency", type=int, help="one level only: requests in flight")
    parser.add_argument("--total", type=int, default=2000, help="with --concurrency: lookups")
    args = parser.parse_args()
    folder = run.bundle(args.scale)
    with tempfile.TemporaryDirectory(prefix="grassroots-load-") as tmp:
        env = run.child_env(args.store, Path(tmp) / "store" if args.store == "local" else None)
        run.run([*grassroots(), "import", str(folder)], env, show_errors=False)
        levels = ((args.concurrency, args.total),) if args.concurrency else LEVELS
        figures = measure(env, folder, levels=levels, note=run.note)
    aims = run.load_aims(args.store)
    print("\n".join(section(figures, f"{args.store}, {args.scale} scale", *aims)))


if __name__ == "__main__":
    main()
