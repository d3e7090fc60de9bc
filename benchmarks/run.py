"""Benchmarks, side by side with baselines in one run, on the project's generated city.

    python benchmarks/run.py --scale district            # both stores
    python benchmarks/run.py --scale city --stores local

Each store is measured in its own child process (so peak memory is its own): import
throughput, the full coverage report, one rule, and GraphQL lookups as p50/p99. The
baselines answer the same questions on the same data: plain networkx code over the
graph read out of the store (local store), hand-written Cypher (Neo4j), and pyshacl on
an RDF rendering (district only).
Results are printed and written to benchmarks/results/ as markdown with ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DAY = date(2026, 6, 30)
RULES = ("grid_has_branch", "household_has_contact")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def note(text: str) -> None:
    """A line of progress on stderr: a city run takes a while."""
    print(f"  {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def bundle(scale: str) -> Path:
    from grassroots.sample.city import generate, write_bundle

    folder = HERE / "data" / scale
    if not (folder / "areas.csv").exists():
        note(f"generating the {scale} ledger into {folder}")
        list(write_bundle(generate(scale), folder))
    return folder


def rows_in(folder: Path) -> int:
    return sum(sum(1 for _ in p.open(encoding="utf-8")) - 1 for p in folder.glob("*.csv"))


# -- baselines ---------------------------------------------------------------------------


def as_networkx(store: Any) -> Any:
    """The stored graph as a networkx graph, as the baseline reads it (not timed)."""
    import networkx as nx

    from grassroots.schema import Node

    g = nx.MultiDiGraph()
    for element in store.elements():
        if isinstance(element, Node):
            g.add_node(element.id, label=element.label, props=element.props)
            for rel, end in element.refs.items():
                g.add_edge(element.id, end, key=(rel, element.id), props={})
        else:
            key = (element.type, element.key)
            g.add_edge(element.start, element.end, key=key, props=element.props)
    return g


def networkx_baseline(g: Any) -> dict[str, int]:
    """The two rules in plain networkx over the same graph, without our indexes."""
    from grassroots.schema import RelType

    day = DAY.isoformat()
    grids = [n for n, d in g.nodes(data=True) if d["props"].get("kind") == "grid"]
    with_branch = {
        v
        for u, v, k in g.edges(keys=True)
        if k[0] is RelType.BUILT_ON
        and g.nodes[u]["props"].get("form") in ("branch", "general_branch")
    }
    households = [n for n, d in g.nodes(data=True) if d["label"] == "Household"]
    contacted = {
        v
        for u, v, k, p in g.edges(keys=True, data="props")
        if k[0] is RelType.CONTACTS
        and (p.get("since") or "") <= day
        and day <= (p.get("until") or "9999")
        and g.nodes[u]["props"].get("party_member") is not False
    }
    return {
        "grid_has_branch": sum(1 for n in grids if n not in with_branch),
        "household_has_contact": sum(1 for n in households if n not in contacted),
    }


# Each answers what ours must: how many were checked, and the ids of the gaps.
HAND_CYPHER = {
    "grid_has_branch": """
MATCH (g:Area) WHERE g.kind = 'grid'
RETURN count(g) AS checked, collect(CASE WHEN NOT EXISTS {
  MATCH (g)<-[:BUILT_ON]-(o:PartyOrg) WHERE o.form IN ['branch', 'general_branch'] }
  THEN g.id END) AS gaps""",
    "household_has_contact": """
MATCH (h:Household)
RETURN count(h) AS checked, collect(CASE WHEN NOT EXISTS {
  MATCH (h)<-[c:CONTACTS]-(p:Person)
  WHERE (c.since IS NULL OR c.since <= $day) AND (c.until IS NULL OR $day <= c.until)
    AND (p.party_member IS NULL OR p.party_member <> false) }
  THEN h.id END) AS gaps""",
}


def shacl_baseline(store: Any) -> dict[str, Any]:
    """pyshacl on an RDF rendering of the graph, for the two rules (dates left out)."""
    from pyshacl import validate
    from rdflib import RDF, Graph, Literal, Namespace

    from grassroots.schema import Label, Link, Node, RelType

    ex = Namespace("urn:grassroots:")
    data = Graph()
    for element in store.elements():
        if isinstance(element, Node):
            subject = ex[element.id]
            kind = element.props.get("kind")
            data.add((subject, RDF.type, ex["Grid"] if kind == "grid" else ex[element.label.value]))
            if element.label is Label.PARTY_ORG:
                data.add((subject, ex.form, Literal(element.props["form"])))
            for rel, end in element.refs.items():
                if rel is RelType.BUILT_ON:
                    data.add((subject, ex.builtOn, ex[end]))
        elif isinstance(element, Link) and element.type is RelType.CONTACTS:
            data.add((ex[element.start], ex.contacts, ex[element.end]))
    shapes = Graph().parse(
        format="turtle",
        data="""
@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <urn:grassroots:> .
ex:GridShape a sh:NodeShape ; sh:targetClass ex:Grid ;
  sh:property [ sh:path [ sh:inversePath ex:builtOn ] ;
    sh:qualifiedValueShape [ sh:property [ sh:path ex:form ; sh:in ("branch" "general_branch") ] ] ;
    sh:qualifiedMinCount 1 ] .
ex:HouseholdShape a sh:NodeShape ; sh:targetClass ex:Household ;
  sh:property [ sh:path [ sh:inversePath ex:contacts ] ; sh:minCount 1 ] .
""",
    )
    seconds, (_conforms, report, _) = timed(lambda: validate(data, shacl_graph=shapes))
    failing = len(
        set(report.subjects(RDF.type, Namespace("http://www.w3.org/ns/shacl#")["ValidationResult"]))
    )
    return {"seconds": seconds, "results": failing, "triples": len(data)}


# -- one store, in its own process -------------------------------------------------------


def serve(app: Any) -> tuple[Any, Any]:
    """The app behind a real uvicorn server on a loopback port (in a thread), and an HTTP
    client for it: lookups are timed as a front-end sees them, HTTP and JSON included."""
    import socket
    import threading

    import httpx
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60), server


def measure(kind: str, scale: str, calls: int, shacl: bool) -> dict[str, Any]:
    from grassroots.api.app import create_app
    from grassroots.graph import open_store
    from grassroots.importers import import_path
    from grassroots.queries.coverage import coverage
    from grassroots.queries.coverage.engine import evaluator_for
    from grassroots.queries.coverage.rules import select
    from grassroots.schema import Label
    from grassroots.settings import Settings

    folder = bundle(scale)
    out: dict[str, Any] = {"store": kind, "scale": scale, "rows": rows_in(folder)}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store=kind, data=Path(tmp) / "store")
        store = open_store(settings)
        # Warm-up, the same for both stores: import the small city once and drop it, so
        # the JVM's JIT and Neo4j's plan cache are not charged to the first measurement.
        import_path(store, bundle("small"))
        store.reset()
        out["import_s"], _ = timed(lambda: import_path(store, folder))
        note(f"{kind}: imported {out['rows']:,} rows in {out['import_s']:.1f} s")
        out["reimport_s"], _ = timed(lambda: import_path(store, folder))
        note(f"{kind}: re-imported in {out['reimport_s']:.1f} s")
        out["nodes"] = sum(v for k, v in store.counts().items() if not k.isupper())
        if kind == "local":  # what every new process (a CLI call, a server) pays first
            out["open_s"], _ = timed(lambda: open_store(settings).close())
            note(f"{kind}: opened the stored graph in {out['open_s']:.1f} s")
        out["coverage_s"], report = timed(lambda: coverage(store, as_of=DAY), repeat=2)
        note(f"{kind}: full coverage report in {out['coverage_s']:.2f} s")
        out["rules"] = len(report.results)
        for rule in select(None, list(RULES)):
            seconds, (_, gaps) = timed(
                lambda r=rule: evaluator_for(store).evaluate(r, DAY, None), repeat=3
            )
            out[f"rule:{rule.id}"] = {"ours_s": seconds, "gaps": len(gaps)}
        if kind == "local":
            graph = as_networkx(store)
            seconds, counts = timed(lambda: networkx_baseline(graph), repeat=3)
            out["baseline"] = {"name": "plain networkx", "s": seconds, "gaps": counts}
        else:
            base: dict[str, Any] = {"name": "hand-written Cypher", "s": {}, "gaps": {}}
            for name, text in HAND_CYPHER.items():
                seconds, records = timed(lambda t=text: store.read(t, day=DAY.isoformat()), 3)  # type: ignore[attr-defined]
                base["s"][name], base["gaps"][name] = seconds, len(records[0]["gaps"])
            out["baseline"] = base
        if shacl and kind == "local":
            out["shacl"] = shacl_baseline(store)
        note(f"{kind}: rules and baselines measured; GraphQL lookups next")
        http, server = serve(create_app(settings, store))
        villages = store.find(Label.AREA, {"kind": ["village", "community"]}, limit=calls).nodes
        units = store.find(Label.UNIT, limit=calls).nodes
        households = store.find(Label.HOUSEHOLD, limit=calls).nodes
        queries = {
            "pairings(areaId)": [
                f'{{ pairings(areaId: "{v.id}") {{ id unit {{ name }} }} }}' for v in villages
            ],
            "dispatches(unitId)": [
                f'{{ dispatches(unitId: "{u.id}") {{ id area {{ name }} }} }}' for u in units
            ],
            "responsibleChain": [
                f'{{ responsibleChain(id: "{h.id}") {{ id }} }}' for h in households
            ],
            "orgChart(depth: 3)": ['{ orgChart(rootId: "O-D01", depth: 3) { id parentId } }'] * 20,
        }
        lookups = {}
        for name, texts in queries.items():
            for text in texts[:5]:  # warm-up calls, not timed
                http.post("/graphql", json={"query": text})
            times = []
            for text in texts:
                start = time.perf_counter()
                reply = http.post("/graphql", json={"query": text}).json()
                times.append(time.perf_counter() - start)
                assert "errors" not in reply, reply
            times.sort()
            lookups[name] = {
                "n": len(times),
                "p50_ms": 1000 * statistics.median(times),
                "p99_ms": 1000 * times[min(len(times) - 1, int(0.99 * len(times)))],
            }
        out["lookups"] = lookups
        server.should_exit = True
        store.reset()
        store.close()
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# -- the table ---------------------------------------------------------------------------


def commit() -> str:
    """The code measured: its commit, and whether the work tree differed from it."""
    git = ["git", "-C", str(HERE.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "grassroots", "benchmarks", ":!benchmarks/results"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (head.stdout.strip() or "unknown") + (" with local changes" if dirty else "")


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        f"# Benchmarks, {date.today().isoformat()}",
        "",
        f"Machine: {machine()}. Code: commit {commit()}.",
        "",
        "Method: each store is measured in a process of its own, after a warm-up (it imports"
        " and drops the small city once). Import and re-import run once; the full report is"
        " the best of 2 runs, each rule and baseline the best of 3; lookups follow 5 untimed"
        " calls. The baselines answer the same questions on the same data in the same run.",
        "",
    ]
    for r in results:
        lines += [
            f"## {r['store']} store, {r['scale']} scale: {r['rows']:,} ledger rows, "
            f"{r['nodes']:,} nodes",
            "",
            "| measure | value |",
            "| --- | --- |",
            f"| import | {r['import_s']:.1f} s ({r['rows'] / r['import_s']:,.0f} rows/s) |",
            f"| re-import (nothing changes) | {r['reimport_s']:.1f} s |",
            *(
                [f"| open the stored graph in a new process | {r['open_s']:.1f} s |"]
                if "open_s" in r
                else []
            ),
            f"| full coverage report ({r['rules']} rules, all packs) | {r['coverage_s']:.2f} s |",
            f"| peak memory of the process | {r['peak_rss_mb']:,.0f} MB |",
            "",
        ]
        base = r["baseline"]
        lines += [
            f"Rules against the baseline ({base['name']}), same data, same run:",
            "",
            "| rule | ours | baseline | ours / baseline | gaps (ours = baseline) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for rule in RULES:
            ours = r[f"rule:{rule}"]
            theirs = base["s"][rule] if isinstance(base["s"], dict) else base["s"]
            label = "" if isinstance(base["s"], dict) else " (both rules)"
            lines.append(
                f"| {rule} | {1000 * ours['ours_s']:.0f} ms | {1000 * theirs:.0f} ms"
                f"{label} | {ours['ours_s'] / theirs:.2f} | {ours['gaps']} = "
                f"{base['gaps'][rule]} |"
            )
        if "shacl" in r:
            both = sum(r[f"rule:{rule}"]["ours_s"] for rule in RULES)
            s = r["shacl"]
            lines += [
                "",
                f"pyshacl on {s['triples']:,} triples, both rules: {s['seconds']:.2f} s "
                f"({s['results']} results); ours {both:.3f} s: ratio "
                f"{both / s['seconds']:.4f}.",
            ]
        lines += [
            "",
            "GraphQL lookups (HTTP to a uvicorn server on loopback, in the store's process):",
            "",
            "| query | calls | p50 | p99 |",
            "| --- | --- | --- | --- |",
        ]
        for name, q in r["lookups"].items():
            lines.append(f"| {name} | {q['n']} | {q['p50_ms']:.1f} ms | {q['p99_ms']:.1f} ms |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="district", choices=["small", "district", "city"])
    parser.add_argument("--stores", default="local,neo4j")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.scale, args.calls, args.scale != "city")))
        return
    bundle(args.scale)
    results = []
    for kind in args.stores.split(","):
        print(f"measuring the {kind} store at {args.scale} scale...", file=sys.stderr)
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--scale",
                args.scale,
                "--calls",
                str(args.calls),
                "--one",
                kind,
            ],
            stdout=subprocess.PIPE,  # progress and errors go straight to stderr
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"the {kind} measurement failed (see above)")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    text = markdown(results)
    print(text)
    target = HERE / "results" / f"{args.scale}.md"
    target.write_text(text, encoding="utf-8")
    print(f"written to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
