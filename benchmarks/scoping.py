"""What scoping answers to an account's subtree costs (issue 12, aim: within 10% of
unscoped): the same lookups, and the same district's coverage report, asked of one
``grassroots serve`` by an account of the whole graph and by one bound to the district,
call by call in turn, so that both meet the same server in the same state.

Every id asked lies in the district (the largest by households), so both accounts get
the same answers (a responsible chain, cut at the district's top org for its account, the
same as far as it goes); each reply is checked to carry data and no errors.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from lookups import DAY, QUERIES, _rows, _spread
from processes import grassroots, run

REPORT = """
query ($scope: ID, $rules: [String!]) {
  coverage(scope: $scope, rules: $rules, asOf: "2026-06-30") {
    scope limitedTo rules { id checked satisfied }
  }
}"""


def district(folder: Path) -> tuple[str, set[str]]:
    """The district with most households, and the areas at or below it."""
    parent = {r["id"]: r["parent_id"] for r in _rows(folder, "areas")}
    kind = {r["id"]: r["kind"] for r in _rows(folder, "areas")}

    def top(area: str) -> str | None:
        seen = 0
        while area and seen < 32:
            if kind.get(area) == "district":
                return area
            area, seen = parent.get(area, ""), seen + 1
        return None

    households: dict[str, int] = defaultdict(int)
    for row in _rows(folder, "households"):
        if (found := top(row["building_id"])) is not None:
            households[found] += 1
    chosen = max(households, key=lambda d: (households[d], d))
    return chosen, {a for a in parent if top(a) == chosen}


def plan(folder: Path, calls: int) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    chosen, areas = district(folder)
    places = [r for r in _rows(folder, "areas") if r["id"] in areas]
    villages = [r["id"] for r in places if r["kind"] in ("village", "community")]
    names = [r["name"] for r in places if r["kind"] in ("village", "community")]
    units = [r["id"] for r in _rows(folder, "units") if r["area_id"] in areas]
    households = [r["id"] for r in _rows(folder, "households") if r["building_id"] in areas]
    orgs = [r for r in _rows(folder, "party_orgs") if r["area_id"] == chosen]
    return chosen, {
        "pairings(areaId)": [{"id": v, "day": DAY} for v in _spread(villages, calls)],
        "dispatches(unitId)": [{"id": u, "day": DAY} for u in _spread(units, calls)],
        "search(text)": [{"text": n} for n in _spread(names, calls)],
        "household(id)": [{"id": h} for h in _spread(households, calls)],
        "responsibleChain(id)": [{"id": h} for h in _spread(households[1::7], calls)],
        "orgChart(depth: 3)": [{"id": orgs[0]["id"]}] * max(20, calls // 4),
    }


def accounts(env: dict[str, str], chosen: str) -> dict[str, str]:
    """A token of an account of the whole graph and of one bound to ``chosen``, made
    through the CLI (beside a running serve, through its hand-off)."""
    tokens = {}
    for who, areas in (("whole", []), ("district", ["--area", chosen])):
        name = f"bench-{who}-{time.time_ns()}"
        run([*grassroots(), "users", "add", name, "--role", "viewer", *areas], env)
        tokens[who] = run([*grassroots(), "tokens", "issue", name], env).stdout.strip()
    return tokens


def measure(
    url: str, env: dict[str, str], folder: Path, calls: int, rules: list[str]
) -> dict[str, Any]:
    chosen, variables_of = plan(folder, calls)
    tokens = accounts(env, chosen)
    out: dict[str, Any] = {"district": chosen, "lookups": {}, "report": {}}
    with httpx.Client(base_url=url, timeout=600) as http:

        def call(who: str, text: str, values: dict[str, Any]) -> tuple[float, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {tokens[who]}"}
            start = time.perf_counter()
            reply: dict[str, Any] = http.post(
                "/graphql", json={"query": text, "variables": values}, headers=headers
            ).json()
            took = time.perf_counter() - start
            assert "errors" not in reply and reply.get("data"), (who, reply)
            return took, reply["data"]

        for name, variables in variables_of.items():
            text = QUERIES[name]
            for values in variables[:5]:
                call("whole", text, values), call("district", text, values)
            times: dict[str, list[float]] = {"whole": [], "district": []}
            for n, values in enumerate(variables):
                order = ("whole", "district") if n % 2 == 0 else ("district", "whole")
                answers = {}
                for who in order:
                    took, answers[who] = call(who, text, values)
                    times[who].append(took)
                whole, scoped = answers["whole"], answers["district"]
                if name.startswith("responsibleChain"):  # the district's sees up to its top
                    (chain,) = scoped.values()
                    whole = {k: v[: len(chain)] for k, v in whole.items()}
                assert whole == scoped, (name, values)
            out["lookups"][name] = {
                who: {"n": len(t), "p50_ms": 1000 * statistics.median(t)}
                for who, t in times.items()
            }
        for n in range(4):  # the district's report: asked by scope, or limited to it
            order = ("whole", "district") if n % 2 == 0 else ("district", "whole")
            for who in order:
                scope = chosen if who == "whole" else None
                took, data = call(who, REPORT, {"scope": scope, "rules": rules})
                if n:  # the first of each is a warm-up
                    out["report"].setdefault(who, []).append(took)
                out["report"][f"{who}_checked"] = [r["checked"] for r in data["coverage"]["rules"]]
        assert out["report"]["whole_checked"] == out["report"]["district_checked"]
        best = {who: min(out["report"][who]) for who in ("whole", "district")}
        out["report"] = {**best, "rules": len(rules)}
    return out


def _line(call: str, whole: float, scoped: float, unit: str, aim: float) -> str:
    shown = (f"{whole:.1f} ms", f"{scoped:.1f} ms") if unit == "ms" else (
        f"{whole:.2f} s", f"{scoped:.2f} s")  # fmt: skip
    verdict = "met" if scoped <= aim * whole else "**not met**"
    return (
        f"| {call} | {shown[0]} | {shown[1]} | {scoped / whole:.2f}x | <= {aim:.2f}x | {verdict} |"
    )


def rows(figures: dict[str, Any], aim: float) -> list[str]:
    lines = [
        f"Scoping to an account's subtree (issue 12): the same calls into district"
        f" {figures['district']}, by an account of the whole graph and by one bound to the"
        " district, in turn on one `grassroots serve`:",
        "",
        "| call | whole graph | bound to the district | ratio | aim | |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, q in figures["lookups"].items():
        label = f"{name} (p50 of {q['whole']['n']})"
        lines.append(_line(label, q["whole"]["p50_ms"], q["district"]["p50_ms"], "ms", aim))
    report = figures["report"]
    label = f"coverage of the district, {report['rules']} rules (best of 3)"
    lines.append(_line(label, report["whole"], report["district"], "s", aim))
    return [*lines, ""]


def main() -> None:
    """``python benchmarks/scoping.py --scale district``: these figures alone, on the
    embedded store (the whole bench, ``make bench``, measures both stores)."""
    import argparse
    import tempfile

    from processes import serve
    from run import bundle, child_env, embedded_kind

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="district", choices=["small", "district", "city"])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    folder = bundle(args.scale)
    with tempfile.TemporaryDirectory(prefix="grassroots-bench-") as tmp:
        env = child_env(embedded_kind(), Path(tmp) / "store")
        run([*grassroots(), "import", str(folder)], env, show_errors=False)
        with serve(env) as served:
            from run import TEN

            figures = measure(served.url, env, folder, args.calls, list(TEN))
    print("\n".join(rows(figures, 1.10)))


if __name__ == "__main__":
    main()
