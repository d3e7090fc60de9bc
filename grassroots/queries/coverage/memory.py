"""Rules evaluated on the embedded store: label and relationship-type indexes, adjacency
walks and set operations, never a scan of the whole graph per node.

A ``count`` with only ``at_least: 1`` (the common "has a ..." rule) is answered for all
focus nodes at once by walking the path backwards over the relationship-type index, and
remembered for the report: packs repeat the same path ("the household has a contact")
under rules of their own. Other counts walk forwards from each focus node and count
distinct end nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from grassroots.graph.memory import MemoryStore
from grassroots.graph.store import Store
from grassroots.queries.coverage.engine import register
from grassroots.queries.coverage.rules import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Count,
    Match,
    Rule,
    Step,
)
from grassroots.queries.filters import NUMERIC, Filters, active, matches, number
from grassroots.queries.places import ANCHOR, areas_within
from grassroots.schema import Label, Props
from grassroots.schema.tables import DATED_LABELS, DATED_RELS


class MemoryEvaluator:
    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        store.graph  # noqa: B018  # reload first if another process has written
        self.attrs = store.attrs
        self._reached: dict[tuple[str, str], set[str]] = {}

    # -- the focus ------------------------------------------------------------------------

    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        assert rule.focus is not None and rule.condition is not None
        today = day.isoformat()
        focus = [
            n
            for n in self._candidates(rule.focus.label, rule.focus.where)
            if self._node_ok(n, rule.focus.label, rule.focus.where, today)
        ]
        if scope is not None:
            inside = set(areas_within(self.store, scope))
            focus = [n for n in focus if self._anchors(n, rule.focus.label) & inside]
        if rule.focus.having is not None:
            having = self._holders(focus, rule.focus.having, today)
            focus = [n for n in focus if n in having]
        holders = self._holders(focus, rule.condition, today)
        return len(focus), [n for n in focus if n not in holders]

    def _candidates(self, label: Label, where: Filters) -> Iterable[str]:
        """The focus's first cut from an index: areas by kind, else nodes by label."""
        kinds = where.get("kind")
        if label is Label.AREA and isinstance(kinds, str | list):
            wanted = kinds if isinstance(kinds, list) else [kinds]
            return {n for kind in wanted for n in self.store.by_kind.get(str(kind), ())}
        return self.store.by_label[label]

    def _anchors(self, node: str, label: Label) -> set[str]:
        current = {node}
        for rel in ANCHOR[label]:
            current = {t for n in current for t in self.store.out(n, rel)}
        return current

    def _node_ok(self, node: str, label: Label, filters: Filters, day: str) -> bool:
        data = self.attrs[node]
        if data["label"] is not label:
            return False
        props: Props = data["props"]
        return (not filters or matches(props, filters)) and (
            label not in DATED_LABELS or active(props, day)
        )

    # -- conditions -----------------------------------------------------------------------

    def _holders(self, focus: list[str], condition: Condition, day: str) -> set[str]:
        """The focus nodes that meet ``condition``."""
        if isinstance(condition, AllOf):
            result = set(focus)
            for part in condition.of:
                result &= self._holders([n for n in focus if n in result], part, day)
            return result
        if isinstance(condition, AnyOf):
            result = set()
            for part in condition.of:
                result |= self._holders([n for n in focus if n not in result], part, day)
            return result
        if isinstance(condition, Compare):
            return {n for n in focus if self._compares(n, condition)}
        if isinstance(condition, Match):
            return {n for n in focus if matches(self.store.props(n), condition.where)}
        if condition.at_least == 1 and condition.at_most is None and not condition.same_as:
            return self._reaching(condition.path, day) & set(focus)
        return {n for n in focus if self._counts(n, condition, day)}

    def _compares(self, node: str, rule: Compare) -> bool:
        props = self.store.props(node)
        left = number(props.get(rule.property))
        right: float | None = rule.value
        if rule.times is not None:
            factor = number(props.get(rule.times))
            right = None if factor is None else rule.value * factor
        return left is not None and right is not None and NUMERIC[rule.op](left, right)

    def _counts(self, node: str, rule: Count, day: str) -> bool:
        ends = self._walk({node}, rule.path, day)
        if rule.same_as is not None:
            ends &= self._walk({node}, rule.same_as, day)
        n = len(ends)
        return (rule.at_least is None or n >= rule.at_least) and (
            rule.at_most is None or n <= rule.at_most
        )

    def _step_ok(self, step: Step, rel_props: Props, target: str, day: str) -> bool:
        if step.rel in DATED_RELS and not active(rel_props, day):
            return False
        if step.where and not matches(rel_props, step.where):
            return False
        return self._node_ok(target, step.to, step.to_where, day)

    def _walk(self, start: Iterable[str], path: list[Step], day: str) -> set[str]:
        """The distinct nodes reached from ``start`` along ``path``."""
        store = self.store
        frontier = set(start)
        for step in path:
            adjacent = store.succ if step.dir == "out" else store.pred
            reached: set[str] = set()
            for node in frontier:
                for target, keys in adjacent(node).items():
                    for key, data in keys.items():
                        if key[0] is step.rel and self._step_ok(step, data["props"], target, day):
                            reached.add(target)
            frontier = reached
        return frontier

    def _reaching(self, path: list[Step], day: str) -> set[str]:
        """Every node with at least one walk along ``path``: walked backwards, once, over
        the relationship-type index."""
        memo = (json.dumps([step.model_dump(mode="json") for step in path]), day)
        if memo not in self._reached:
            self._reached[memo] = self._walk_back(path, day)
        return self._reached[memo]

    def _walk_back(self, path: list[Step], day: str) -> set[str]:
        frontier: set[str] | None = None  # None: the last step may end anywhere
        for step in reversed(path):
            reached: set[str] = set()
            out = step.dir == "out"
            for (u, v, _), props in self.store.by_type[step.rel].items():
                near, far = (u, v) if out else (v, u)
                if near in reached or (frontier is not None and far not in frontier):
                    continue
                if self._step_ok(step, props, far, day):
                    reached.add(near)
            frontier = reached
        return frontier or set()


@register("memory")
def _evaluator(store: Store) -> MemoryEvaluator:
    assert isinstance(store, MemoryStore)
    return MemoryEvaluator(store)
