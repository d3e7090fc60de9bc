"""The coverage engine: choose the rules, evaluate each on whichever store holds the
graph (the evaluator registered for its ``name``), and describe the gaps. As-of and
scope are resolved here, once, for every store.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

from grassroots.errors import NotFound, StoreError
from grassroots.graph.store import Store
from grassroots.graph.subtrees import ScopedStore, Subtrees
from grassroots.queries.coverage.rules import Rule, load_packs, select
from grassroots.queries.places import areas_within, describe, resolve, scope_area
from grassroots.schema import AreaKind, Label

Found = tuple[str, str | None, str | None]
"""A failing node as an evaluator gives it: its id, and its name and path where the
evaluator's own query made them (None where ``places.describe`` is to). A plain tuple:
a city's report has 200k of them."""


class Evaluator(Protocol):
    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        """How many focus nodes were checked, and the ids of those that fail."""
        ...

    def judge(
        self, rules: list[Rule], day: date, scope: str | None
    ) -> list[tuple[int, list[Found]]]:
        """``evaluate`` for each of ``rules``, for a report: the failing nodes, each
        with its name and path where the evaluator can give them as cheaply as ids."""
        ...


EvaluatorFactory = Callable[[Store], Evaluator]

EVALUATORS: dict[str, EvaluatorFactory] = {}
"""Each store's rule evaluator, keyed by ``Store.name``; each evaluator module registers
its own with ``@register(name)`` when it is imported."""

EVALUATOR_MODULES = {
    "local": "grassroots.queries.coverage.sql",
    "served": "grassroots.queries.coverage.sql",
    "neo4j": "grassroots.queries.coverage.cypher",
}
"""Where each store's evaluator lives, imported on first use: a DuckDB report never
loads the Neo4j driver."""


def register(name: str) -> Callable[[EvaluatorFactory], EvaluatorFactory]:
    def add(factory: EvaluatorFactory) -> EvaluatorFactory:
        EVALUATORS[name] = factory
        return factory

    return add


def evaluator_for(store: Store) -> Evaluator:
    if store.name not in EVALUATORS and store.name in EVALUATOR_MODULES:
        importlib.import_module(EVALUATOR_MODULES[store.name])
    factory = EVALUATORS.get(store.name)
    if factory is None:
        raise StoreError(f"no coverage evaluator for the {store.name!r} store")
    return factory(store)


class Gap(NamedTuple):
    """One failing node in a report. (A tuple, not a frozen dataclass: a city's report
    makes 200k, and a tuple is made in a third of the time.)"""

    id: str
    name: str
    path: str
    message: str


@dataclass
class RuleResult:
    rule: Rule
    checked: int
    gaps: list[Gap]

    @property
    def satisfied(self) -> int:
        return self.checked - len(self.gaps)

    @property
    def nothing_to_check(self) -> bool:
        """No node of the rule's focus lies in the scope: ``0 / 0`` is not a score."""
        return self.checked == 0

    @property
    def ratio(self) -> float:
        """The satisfied share. With nothing to check it is 1.0, which only a number-typed
        field (GraphQL's ``ratio: Float!``) should show, beside ``nothing_to_check``; the
        reports say "nothing to check" (JSON: ``"ratio": null``)."""
        return round(self.satisfied / self.checked, 4) if self.checked else 1.0

    @property
    def shown_ratio(self) -> float | None:
        """The ratio as the reports give it: None when there is nothing to check."""
        return None if self.nothing_to_check else self.ratio

    def to_json(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "id": rule.id,
            "pack": rule.pack,
            "title": rule.title,
            "title_zh": rule.title_zh,
            "severity": rule.severity.value,
            "source": {
                "document": rule.source.document,
                "clause": rule.source.clause,
                "quote": rule.source.quote,
            },
            "checked": self.checked,
            "satisfied": self.satisfied,
            "ratio": self.shown_ratio,
            "nothing_to_check": self.nothing_to_check,
            "gaps": [
                {"id": g.id, "name": g.name, "path": g.path, "message": g.message}
                for g in self.gaps
            ],
        }


@dataclass
class Report:
    as_of: date
    scope: str | None
    results: list[RuleResult] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)  # the packs whose rules were checked
    scope_name: str | None = None  # the scope area's own name, where a breakdown knows it
    limited_to: tuple[str, ...] = ()  # the caller's subtrees, where an account has them

    @property
    def other_packs(self) -> list[str]:
        """The packs not checked, which ``--pack NAME`` or GRASSROOTS_PACKS would add."""
        return [name for name in load_packs() if name not in self.packs]

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "scope": self.scope,
            "packs": self.packs,
            "other_packs": self.other_packs,
            **({"limited_to": list(self.limited_to)} if self.limited_to else {}),
            "rules": [r.to_json() for r in self.results],
        }


SCOPES = (Label.AREA, Label.PARTY_ORG)


def coverage(
    store: Store,
    packs: list[str] | None = None,
    rules: list[str] | None = None,
    scope: str | None = None,
    as_of: date | None = None,
    name_gaps: bool = True,
) -> Report:
    """Check the chosen rules (every machine-checkable rule of every pack by default; the
    command line asks for core and the chosen packs, see ``packs_to_run``) as of ``as_of``
    (default today), on the whole graph or inside ``scope``. Without ``name_gaps``, a gap
    its evaluator left unnamed keeps its id as name and path (a caller names them)."""
    store = store.snapshot()  # the whole report from one consistent state
    day = as_of or date.today()
    if scope:  # a name typed as the scope: the report names the node's id
        scope = resolve(store, scope, (Label.AREA, Label.PARTY_ORG), "scope")
    area = scope_area(store, scope) if scope else None
    evaluator = evaluator_for(store)
    chosen = select(packs, rules)
    outcomes = [
        (rule, checked, failing)
        for rule, (checked, failing) in zip(chosen, evaluator.judge(chosen, day, area), strict=True)
    ]
    # one description pass for the gaps the evaluator left unnamed: gaps of many rules
    # share their places
    unnamed = {i for _, _, failing in outcomes for i, _, path in failing if path is None}
    described = describe(store, unnamed) if name_gaps else {}
    ran = {rule.pack for rule in chosen}
    report = Report(day, scope, packs=[name for name in load_packs() if name in ran])
    for rule, checked, failing in outcomes:
        message = rule.message
        gaps = [
            Gap(i, name, path, message)
            if path is not None and name is not None
            else Gap(i, *described.get(i, (i, i)), message)
            for i, name, path in failing
        ]
        gaps.sort(key=attrgetter("path", "id"))  # an evaluator's order makes this linear
        report.results.append(RuleResult(rule, checked, gaps))
    return report


def coverage_within(
    store: Store,
    subtrees: Subtrees,
    packs: list[str] | None = None,
    rules: list[str] | None = None,
    scope: str | None = None,
    as_of: date | None = None,
) -> Report:
    """``coverage`` for an account bound to ``subtrees``: inside ``scope``, which must be
    one the account sees (else it is not found), or else inside each of its subtrees,
    their results added up. A gap's path starts where the account's part of its trail
    does (``places.describe`` through its scoped reads), as every path it is shown."""
    store = store.snapshot()
    scopes = list(subtrees.roots)
    if scope:
        scope = resolve(ScopedStore(store, subtrees), scope, SCOPES, "scope")
        if not subtrees.sees(scope_area(store, scope), Label.AREA):  # an org built outside
            raise NotFound(f"scope {scope!r} is neither the id nor the name of any area")
        scopes = [scope]
    chosen = select(packs, rules)
    ran = {rule.pack for rule in chosen}
    merged = Report(
        as_of or date.today(),
        scopes[0] if len(scopes) == 1 else None,
        packs=[name for name in load_packs() if name in ran],
        limited_to=subtrees.bound or subtrees.roots,
    )
    parts = [coverage(store, packs, rules, s, as_of, name_gaps=False) for s in scopes]
    seen = ScopedStore(store, subtrees)  # whose trails stop at the boundary
    paths = describe(seen, {g.id for p in parts for r in p.results for g in r.gaps})
    for at, rule in enumerate(chosen):
        results = [p.results[at] for p in parts]
        gaps = [g._replace(name=paths[g.id][0], path=paths[g.id][1]) if g.id in paths else g
                for r in results for g in r.gaps]  # fmt: skip
        gaps.sort(key=attrgetter("path", "id"))
        merged.results.append(RuleResult(rule, sum(r.checked for r in results), gaps))
    return merged


def breakdown(
    store: Store,
    kind: AreaKind,
    packs: list[str] | None = None,
    rules: list[str] | None = None,
    scope: str | None = None,
    as_of: date | None = None,
) -> list[tuple[str, str, Report]]:
    """The report for each area of ``kind`` (inside ``scope``): ``(id, name, report)``."""
    store = store.snapshot()  # every area's report from the same state
    tree = store.tree(Label.AREA)
    inside = set(areas_within(store, scope_area(store, scope))) if scope else None
    areas = sorted(
        a for a, e in tree.items() if e.kind == kind.value and (inside is None or a in inside)
    )
    names = describe(store, areas)
    out = []
    for area in areas:
        report = coverage(store, packs, rules, area, as_of)
        report.scope_name = names[area][0]
        out.append((area, names[area][1], report))
    return out
