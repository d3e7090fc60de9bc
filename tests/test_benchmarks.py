"""The bench's baselines answer what every store answers: ``benchmarks/plain.py`` and the
hand-written SQL (``benchmarks/hand_sql.py``) find the same focus and the same gaps as the
store's own coverage report, rule by rule, for the ten contract rules. A baseline that
answers another question would make every ratio in benchmarks/results/ a lie."""

from __future__ import annotations

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
import plain
from run import TEN

DAY = date(2026, 6, 30)


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
