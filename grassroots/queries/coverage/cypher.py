"""Rules compiled to Cypher: one read query per focus, never one per node.

A report's rules are grouped by their focus (its label and filters): each group is one
statement that matches the focus once (filtered as of the day and by scope), computes
every rule's ``ok`` for each node, and returns per rule the number checked and the ids
that fail. A rule's ``having`` guards its own ``ok`` (``CASE WHEN having THEN ... END``:
null where the node is not the rule's to check, so ``count`` skips it). Every value is a
parameter; labels and relationship types come from the schema's enums; property names
come from the rule packs and are quoted.

The community rules ``area_has_party_org`` and ``area_is_paired`` together read::

    MATCH (f:Area)
    WHERE f.`kind` IN $p0
    WITH f,
      coalesce(EXISTS {
        MATCH (f)<-[r1:BUILT_ON]-(n2:PartyOrg)
      }, false) AS ok0,
      coalesce(EXISTS {
        MATCH (f)<-[r3:BUILT_ON]-(n4:PartyOrg)<-[r5:WITH_ORG]-(n6:Pairing)
        WHERE (n6.since IS NULL OR n6.since <= $day) AND (n6.until IS NULL OR $day <= n6.until)
      }, false) AS ok1
    RETURN count(ok0) AS checked0,
      collect(CASE WHEN NOT ok0 THEN f.id END) AS gaps0,
      count(ok1) AS checked1,
      collect(CASE WHEN NOT ok1 THEN f.id END) AS gaps1

"Has at least one" becomes ``EXISTS``, which stops at the first match; other counts
become ``COUNT { ... RETURN DISTINCT end }``, counted once even when bounded on both
sides. A scope is matched from the scope area down (its subtree, then the references
that lead to the focus, ``places.ANCHOR``), not climbed from every focus node. A
report's gaps are then named all at once: ``climb`` reads their trails a level at a
time, each node once, and ``places.describe`` joins the names.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from datetime import date
from typing import Any, NamedTuple

from grassroots.graph.filters import CypherParams, Filters, prop
from grassroots.graph.neo4j import Neo4jStore
from grassroots.graph.store import MAX_DEPTH, Above, Store
from grassroots.queries.coverage.engine import Found, register
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
from grassroots.queries.places import ANCHOR, TRAIL_RELS, describe
from grassroots.schema import Label
from grassroots.schema.tables import DATED_LABELS, DATED_RELS


def is_exists(count: Count) -> bool:
    """A "has at least one": answered by the first end found."""
    return count.at_least == 1 and count.at_most is None and count.same_as is None


def walk_of(steps: list[Step]) -> list[Step]:
    """What conditions that may share one walk have in common: the steps, the last
    without its filters (on the relationship and on the node it reaches)."""
    *before, last = steps
    return [*before, last.model_copy(update={"where": {}, "to_where": {}})]


def walk_key(steps: list[Step]) -> str:
    return json.dumps([step.model_dump(mode="json") for step in walk_of(steps)])


def exists_walks(condition: Condition | None) -> Iterator[Count]:
    """Every "has at least one" in ``condition``."""
    if isinstance(condition, Count) and is_exists(condition):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for part in condition.of:
            yield from exists_walks(part)


class Compiler(CypherParams):
    def __init__(self, shared: Mapping[str, Read] | None = None) -> None:
        super().__init__()
        self.vars = 0
        # walk key -> the properties its users test: taken once per focus node, then filtered
        self.shared = dict(shared or {})
        self.lifted: dict[str, tuple[str, str]] = {}  # walk key -> (variable, expression)

    def var(self, prefix: str) -> str:
        self.vars += 1
        return f"{prefix}{self.vars}"

    def path(
        self, start: str, steps: list[Step], end: str | None = None
    ) -> tuple[str, list[str], str, str]:
        """A MATCH pattern for ``steps`` from ``start``, its WHERE parts, its end var, and
        the var of its last relationship."""
        pattern, where = f"({start})", []
        current = rel = start
        for index, step in enumerate(steps):
            rel = self.var("r")
            last = index == len(steps) - 1
            node = end if (last and end) else self.var("n")
            arrow = (
                f"-[{rel}:{step.rel.value}]->"
                if step.dir == "out"
                else f"<-[{rel}:{step.rel.value}]-"
            )
            label = "" if (last and end) else f":{step.to.value}"
            pattern += f"{arrow}({node}{label})"
            where += self.filters(rel, step.where) + self.filters(node, step.to_where)
            if step.rel in DATED_RELS:
                where.append(self.active(rel))
            if step.to in DATED_LABELS and not (last and end):
                where.append(self.active(node))
            current = node
        return pattern, where, current, rel

    def walked(self, focus: str, steps: list[Step]) -> str:
        """The variable holding, for each focus node, a ``{rel, end}`` map for every
        walk along ``steps`` (their last filters left out), with the properties the
        sharing conditions test, each read once (a map projection); made once for all
        of them."""
        key = walk_key(steps)
        if key not in self.lifted:
            pattern, where, end, rel = self.path(focus, walk_of(steps))
            filtered = "\n  WHERE " + "\n  AND ".join(where) if where else ""
            read = self.shared[key]
            ends = [
                (name, var, props)
                for name, var, props in [("rel", rel, read.rel), ("end", end, read.end)]
                if props
            ]
            picked = ", ".join(
                f"{name}: {var} {{" + ", ".join(prop("", p) for p in sorted(props)) + "}"
                for name, var, props in ends
            )
            found = f"[{pattern}{filtered}\n  | {{{picked}}}]"
            self.lifted[key] = (self.var("walk"), found)
        return self.lifted[key][0]

    def count(self, focus: str, rule: Count) -> str:
        if is_exists(rule) and walk_key(rule.path) in self.shared:
            walk, last, x = self.walked(focus, rule.path), rule.path[-1], self.var("x")
            tests = self.filters(f"{x}.rel", last.where) + self.filters(f"{x}.end", last.to_where)
            if not tests:
                return f"{walk} <> []"
            return f"any({x} IN {walk} WHERE " + " AND ".join(tests) + ")"
        pattern, where, end, _ = self.path(focus, rule.path)
        lines = [f"MATCH {pattern}"]
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        if rule.same_as:
            other, other_where, _, _ = self.path(focus, rule.same_as, end=end)
            lines.append(f"MATCH {other}")
            if other_where:
                lines.append("WHERE " + "\n  AND ".join(other_where))
        if rule.at_least == 1 and rule.at_most is None:  # "has a ...": stop at the first
            return "EXISTS {\n  " + "\n  ".join(lines) + "\n}"
        lines.append(f"RETURN DISTINCT {end}")
        found = "COUNT {\n  " + "\n  ".join(lines) + "\n}"
        if rule.at_most is None:
            return f"{found} >= {self.param(rule.at_least)}"
        if rule.at_least is None:
            return f"{found} <= {self.param(rule.at_most)}"
        # bound on both sides: the count is one list element, so it runs once (written
        # twice, or as a chained comparison, Neo4j counts twice: 108k db hits, not 61k)
        n = self.var("n")
        low, high = self.param(rule.at_least), self.param(rule.at_most)
        return f"any({n} IN [{found}] WHERE {low} <= {n} <= {high})"

    def condition(self, focus: str, condition: Condition) -> str:
        if isinstance(condition, AllOf):
            return "(" + " AND ".join(self.condition(focus, c) for c in condition.of) + ")"
        if isinstance(condition, AnyOf):
            return "(" + " OR ".join(self.condition(focus, c) for c in condition.of) + ")"
        if isinstance(condition, Match):
            return "(" + " AND ".join(self.filters(focus, condition.where)) + ")"
        if isinstance(condition, Compare):
            right = self.param(condition.value)
            if condition.times is not None:
                right = f"{right} * toFloat({prop(focus, condition.times)})"
            op = "=" if condition.op == "==" else "<>" if condition.op == "!=" else condition.op
            return f"toFloat({prop(focus, condition.property)}) {op} {right}"
        return self.count(focus, condition)

    def focus(self, label: Label, filters: Filters, scope: str | None) -> list[str]:
        """The lines that match the focus nodes ``f``: of ``label``, passing ``filters``,
        active on the day where the label is dated, and inside ``scope``: matched from
        the scope area down its subtree, then along the references that lead from the
        focus to its area, reversed (one walk down, not a climb from every node)."""
        where = self.filters("f", filters)
        if label in DATED_LABELS:
            where.append(self.active("f"))
        if scope is None:
            lines = [f"MATCH (f:{label.value})"]
        else:
            self.params["scope"] = scope
            hops = ANCHOR[label]
            inside = "f" if not hops else "a"
            lines = [
                f"MATCH (:Area {{id: $scope}})<-[:WITHIN*0..]-({inside}:Area)",
                f"WITH DISTINCT {inside}",  # an area in a cycle is reached twice
            ]
            if hops:
                pattern = "(a)" + "".join(f"<-[:{rel.value}]-()" for rel in reversed(hops))
                lines.append(f"MATCH {pattern[: -len('()')]}(f:{label.value})")
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        return lines

    def judged(self, rule: Rule) -> str:
        """The rule's ``ok`` for ``f``: true or false, null where ``having`` leaves the
        node out (it is not checked). A condition that is null (a missing property
        compared) fails."""
        assert rule.focus is not None and rule.condition is not None
        ok = f"coalesce({self.condition('f', rule.condition)}, false)"
        if rule.focus.having is None:
            return ok
        return f"CASE WHEN {self.condition('f', rule.focus.having)} THEN {ok} END"

    def group(self, rules: list[Rule], day: date, scope: str | None) -> str:
        """One statement for ``rules``, which share their focus: ``checkedN`` and
        ``gapsN`` for the Nth rule."""
        focus = rules[0].focus
        assert focus is not None
        lines = self.focus(focus.label, focus.where, scope)
        judged_rules = [self.judged(rule) for rule in rules]
        if self.lifted:  # the shared walks, once per node, before the rules read them
            walks = [
                "  " + found.replace("\n", "\n  ") + f" AS {name}"
                for name, found in self.lifted.values()
            ]
            lines.append("WITH f,\n" + ",\n".join(walks))
        judged = [
            "  " + text.replace("\n", "\n  ") + f" AS ok{index}"
            for index, text in enumerate(judged_rules)
        ]
        self.params["day"] = day.isoformat()
        lines.append("WITH f,\n" + ",\n".join(judged))
        returned = [
            f"count(ok{index}) AS checked{index},\n"
            f"  collect(CASE WHEN NOT ok{index} THEN f.id END) AS gaps{index}"
            for index in range(len(rules))
        ]
        lines.append("RETURN " + ",\n  ".join(returned))
        return "\n".join(lines)


def focus_key(rule: Rule) -> tuple[Label, str]:
    """What rules must share to be judged in one pass: the focus label and its filters
    (``having`` is each rule's own)."""
    assert rule.focus is not None
    return rule.focus.label, json.dumps(rule.focus.where, sort_keys=True, default=str)


def by_focus(rules: list[Rule]) -> list[list[int]]:
    """The indexes of ``rules`` grouped by ``focus_key``, in order of first appearance."""
    groups: dict[tuple[Label, str], list[int]] = {}
    for index, rule in enumerate(rules):
        groups.setdefault(focus_key(rule), []).append(index)
    return list(groups.values())


class Read(NamedTuple):
    """The properties conditions sharing a walk test on its last relationship and node."""

    rel: set[str]
    end: set[str]


def shared_walks(rules: list[Rule]) -> dict[str, Read]:
    """The walks that more than one "has at least one" of ``rules`` takes: walked once
    per focus node (a pattern comprehension) and filtered for each, rather than one
    ``EXISTS`` each (the household pass at district: 264k db hits, not 557k)."""
    uses: Counter[str] = Counter()
    reads: dict[str, Read] = {}
    for rule in rules:
        assert rule.focus is not None
        for part in (rule.focus.having, rule.condition):
            for count in exists_walks(part):
                key, last = walk_key(count.path), count.path[-1]
                uses[key] += 1
                read = reads.setdefault(key, Read(set(), set()))
                read.rel.update(last.where)
                read.end.update(last.to_where)
    return {key: reads[key] for key, n in uses.items() if n > 1}


def compile_group(rules: list[Rule], day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    compiler = Compiler(shared_walks(rules))
    text = compiler.group(rules, day, scope)
    return text, compiler.params


def compile_rule(rule: Rule, day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    """One rule alone: a group of one."""
    return compile_group([rule], day, scope)


CLIMB_STEP = f"""
UNWIND $ids AS id
MATCH (n:Node {{id: id}})
OPTIONAL MATCH (n)-[:{"|".join(rel.value for rel in TRAIL_RELS)}]->(up:Node)
RETURN collect([n.id, [l IN labels(n) WHERE l <> 'Node'][0], n.name, up.id]) AS rows
"""
"""One step up the gaps' trails: each node asked, and the node its trail reference
names."""


def climb(store: Neo4jStore, ids: Collection[str]) -> dict[str, Above]:
    """What ``Store.ancestors(ids, TRAIL_RELS)`` answers, read a level at a time, each
    node once: a city's 113k gaps share their buildings, grids and communities, which
    one walk per gap expanded again for each (2.8M db hits per 20k gaps)."""
    found: dict[str, Above] = {}
    level = list(dict.fromkeys(ids))
    for _ in range(MAX_DEPTH):  # as far as ``ancestors`` walks
        for node_id, label, name, up in store.read_rows(CLIMB_STEP, over="ids", ids=level):
            found[node_id] = Above(Label(label), None if name is None else str(name), up)
        above = {found[i].parent for i in level if i in found}
        level = [i for i in above if i is not None and i not in found]
        if not level:
            break
    return found


class CypherEvaluator:
    def __init__(self, store: Neo4jStore) -> None:
        self.store = store

    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        ((checked, failing),) = self.grouped([rule], day, scope)
        return checked, failing

    def grouped(
        self, rules: list[Rule], day: date, scope: str | None
    ) -> list[tuple[int, list[str]]]:
        """``evaluate`` for each of ``rules``, one statement per focus."""
        out: list[tuple[int, list[str]]] = [(0, [])] * len(rules)
        for indexes in by_focus(rules):
            text, params = compile_group([rules[i] for i in indexes], day, scope)
            record = self.store.read(text, **params)[0]
            for position, index in enumerate(indexes):
                gaps = [str(g) for g in record[f"gaps{position}"]]
                out[index] = (int(record[f"checked{position}"]), gaps)
        return out

    def judge(
        self, rules: list[Rule], day: date, scope: str | None
    ) -> list[tuple[int, list[Found]]]:
        """One statement per focus, then every gap named at once (``places.describe``
        over the trails ``climb`` read)."""
        judged = self.grouped(rules, day, scope)
        ids = {i for _, failing in judged for i in failing}
        described = describe(self.store, ids, climb(self.store, ids))
        return [
            (checked, [(i, *described[i]) if i in described else (i, None, None) for i in failing])
            for checked, failing in judged
        ]


@register("neo4j")
def _evaluator(store: Store) -> CypherEvaluator:
    assert isinstance(store, Neo4jStore)
    return CypherEvaluator(store)
