"""The bench's baselines answer what every store answers: ``benchmarks/plain.py`` and the
hand-written SQL (``benchmarks/hand_sql.py``) find the same focus and the same gaps as the
store's own coverage report, rule by rule, for the ten contract rules. A baseline that
answers another question would make every ratio in benchmarks/results/ a lie."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from grassroots.graph.store import Store
from grassroots.importers import import_path
from grassroots.queries.coverage import coverage
from grassroots.sample.city import generate, write_bundle

# benchmarks/ is not a package (its modules run as scripts): import them from its folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import hand_sql
import load
import lookups
import plain
import scoping
import web
from run import TEN, load_aims

from tests.processes import serving

DAY = date(2026, 6, 30)
GRASSROOTS = str(Path(sys.executable).with_name("grassroots"))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bench") / "small"
    list(write_bundle(generate("small"), folder))
    return folder


def test_plain_python_and_hand_sql_find_the_stores_gaps(store: Store, ledger: Path) -> None:
    import_path(store, ledger)
    report = coverage(store, rules=list(TEN), as_of=DAY)
    ours = {r.rule.id: (r.checked, sorted(g.id for g in r.gaps)) for r in report.results}
    assert sorted(ours) == sorted(TEN)
    assert sum(len(gaps) for _, gaps in ours.values()) > 0  # there are gaps to agree on

    by_plain = plain.evaluate(ledger, DAY.isoformat())
    assert {rule: (v["checked"], v["gaps"]) for rule, v in by_plain.items()} == ours

    db = hand_sql.connect()
    assert hand_sql.load(db, ledger) == sum(
        sum(1 for _ in p.open(encoding="utf-8")) - 1 for p in ledger.glob("*.csv")
    )
    assert {rule: hand_sql.evaluate(db, rule, DAY) for rule in TEN} == ours


def test_the_load_harness_times_every_lookup_beside_a_report_and_an_import(
    env: dict[str, str], store_kind: str, ledger: Path
) -> None:
    """benchmarks/load.py at a tiny scale: every lookup answered in every phase, a report
    and an import run beside them, the table written, and the store left as it was."""
    grassroots = [GRASSROOTS, "import", str(ledger)]
    assert subprocess.run(grassroots, env=env, capture_output=True).returncode == 0
    total = 60
    measured = load.measure(env, ledger, levels=((8, total), (3, total // 2)))
    figures = measured["levels"][0]
    assert [level["concurrency"] for level in measured["levels"]] == [8, 3]
    assert measured["levels"][1]["phases"]["import"]["beside_n"] >= 1

    for name in load.PHASES:
        phase = figures["phases"][name]
        assert set(phase["queries"]) == set(load.MIXED), name
        assert sum(q["n"] for q in phase["queries"].values()) == total, name
        assert all(q["failed"] == 0 for q in phase["queries"].values()), phase
        assert all(0 < q["p50_ms"] <= q["p99_ms"] for q in phase["queries"].values()), phase
        assert phase["per_s"] > 0
    for name in ("report", "import"):  # each ran beside the lookups, and never failed
        assert figures["phases"][name]["beside_n"] >= 1, figures["phases"][name]
        assert figures["phases"][name]["beside_failed"] == 0
        assert figures["phases"][name]["beside_s"] > 0
    assert figures["phases"]["idle"]["beside_n"] == 0

    table = load.section(measured, f"{store_kind}, small scale", *load_aims(store_kind))
    rows = [line for line in table if line.startswith(("| idle", "| report", "| import"))]
    assert [row.split(" | ")[0] for row in rows] == ["| idle", "| report", "| import"] * 2
    assert all(row.count(" ms") == len(load.MIXED) for row in rows)

    again = subprocess.run(grassroots, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    updated = [int(n) for n in re.findall(r"(\d+) updated", again.stdout)]
    assert updated and not any(updated), again.stdout  # the ledger itself, as before


def test_the_scoping_harness_asks_both_accounts_the_same_and_gets_the_same(
    env: dict[str, str], store_kind: str, ledger: Path
) -> None:
    """benchmarks/scoping.py at a tiny scale: every lookup into the district answered
    alike for an account of the whole graph and one bound to the district (it checks
    that itself, call by call), the report's counts alike, and the table written."""
    assert subprocess.run([GRASSROOTS, "import", str(ledger)], env=env).returncode == 0
    with serving(env) as (url, log, _):
        figures = scoping.measure(url, env, ledger, 8, ["grid_has_branch", "area_has_party_org"])
    assert set(figures["lookups"]) == set(lookups.QUERIES)
    for q in figures["lookups"].values():
        assert q["whole"]["n"] == q["district"]["n"] >= 8
        assert q["whole"]["p50_ms"] > 0 and q["district"]["p50_ms"] > 0
    assert figures["report"]["whole"] > 0 and figures["report"]["rules"] == 2
    table = scoping.rows(figures, 1.10)
    assert sum(line.startswith("| ") for line in table) == 2 + len(lookups.QUERIES) + 1
    assert "Traceback" not in "".join(log)


def test_the_web_harness_renders_each_view_and_replays_its_requests(
    env: dict[str, str], store_kind: str, ledger: Path
) -> None:
    """benchmarks/web.py at a tiny scale, in Chromium: each view rendered (a failed view
    stops it), the page's own requests asked again without an error, the table written."""
    assert subprocess.run([GRASSROOTS, "import", str(ledger)], env=env).returncode == 0
    with serving(env) as (url, log, _):
        figures = web.measure(url, ledger, repeat=1)
    assert set(figures["views"]) == set(web.VIEWS)
    for view in figures["views"].values():
        assert view["complete_s"] >= view["page_s"] > 0 and view["api_s"] > 0
        assert view["requests"] >= 2
    assert figures["views"]["org chart, the city, 3 levels"]["visible"] > 1
    assert figures["pan"]["fps"] > 0 and figures["weight"]["gzip_bytes"] > 0
    table = web.rows(figures)
    assert sum(line.startswith("| ") for line in table) == 2 + len(web.VIEWS)
    assert "Traceback" not in "".join(log)
