"""Rules compiled to Cypher: one read query per rule, never one per node.

The query matches the focus, filters it (as-of, scope, ``having``), computes ``ok`` for
each focus node with ``COUNT { ... RETURN DISTINCT end }`` subqueries and property
comparisons, and returns the number checked and the ids that fail. Every value is a
parameter; labels and relationship types come from the schema's enums; property names
come from the rule packs and are quoted.

A compiled rule reads like this (``grid_has_branch``)::

    MATCH (f:Area)
    WHERE f.kind IN $p0
    WITH f, EXISTS {
      MATCH (f)<-[r1:BUILT_ON]-(n1:PartyOrg)
      WHERE n1.form IN $p1
    } AS ok
    RETURN count(f) AS checked, collect(CASE WHEN ok THEN null ELSE f.id END) AS gaps

"Has at least one" becomes ``EXISTS``, which stops at the first match; other counts
become ``COUNT { ... RETURN DISTINCT end } >= $n``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from grassroots.graph.neo4j import Neo4jStore
from grassroots.graph.store import Store
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
from grassroots.queries.filters import CypherParams, prop
from grassroots.queries.places import ANCHOR
from grassroots.schema.tables import DATED_LABELS, DATED_RELS


class Compiler(CypherParams):
    def __init__(self) -> None:
        super().__init__()
        self.vars = 0

    def var(self, prefix: str) -> str:
        self.vars += 1
        return f"{prefix}{self.vars}"

    def path(
        self, start: str, steps: list[Step], end: str | None = None
    ) -> tuple[str, list[str], str]:
        """A MATCH pattern for ``steps`` from ``start``, its WHERE parts, and its end var."""
        pattern, where = f"({start})", []
        current = start
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
        return pattern, where, current

    def count(self, focus: str, rule: Count) -> str:
        pattern, where, end = self.path(focus, rule.path)
        lines = [f"MATCH {pattern}"]
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        if rule.same_as:
            other, other_where, _ = self.path(focus, rule.same_as, end=end)
            lines.append(f"MATCH {other}")
            if other_where:
                lines.append("WHERE " + "\n  AND ".join(other_where))
        if rule.at_least == 1 and rule.at_most is None:  # "has a ...": stop at the first
            return "EXISTS {\n  " + "\n  ".join(lines) + "\n}"
        lines.append(f"RETURN DISTINCT {end}")
        found = "COUNT {\n  " + "\n  ".join(lines) + "\n}"
        bounds = []
        if rule.at_least is not None:
            bounds.append(f"{found} >= {self.param(rule.at_least)}")
        if rule.at_most is not None:
            bounds.append(f"{found} <= {self.param(rule.at_most)}")
        return " AND ".join(bounds)

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

    def rule(self, rule: Rule, day: date, scope: str | None) -> str:
        assert rule.focus is not None and rule.condition is not None
        self.params["day"] = day.isoformat()
        label = rule.focus.label
        where = self.filters("f", rule.focus.where)
        if label in DATED_LABELS:
            where.append(self.active("f"))
        if scope is not None:
            self.params["scope"] = scope
            hops = "".join(f"-[:{rel.value}]->()" for rel in ANCHOR[label])
            area = f"(f){hops}" if hops else "(f)"
            if hops:
                area = area[: -len("()")] + "(a:Area)"
                where.append(f"EXISTS {{ MATCH {area}-[:WITHIN*0..]->(:Area {{id: $scope}}) }}")
            else:
                where.append("EXISTS { MATCH (f)-[:WITHIN*0..]->(:Area {id: $scope}) }")
        if rule.focus.having is not None:
            where.append(self.condition("f", rule.focus.having))
        ok = self.condition("f", rule.condition)
        lines = [f"MATCH (f:{label.value})"]
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        lines.append(f"WITH f, {ok} AS ok")
        lines.append(
            "RETURN count(f) AS checked, collect(CASE WHEN ok THEN null ELSE f.id END) AS gaps"
        )
        return "\n".join(lines)


def compile_rule(rule: Rule, day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    compiler = Compiler()
    text = compiler.rule(rule, day, scope)
    return text, compiler.params


class CypherEvaluator:
    def __init__(self, store: Neo4jStore) -> None:
        self.store = store

    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        text, params = compile_rule(rule, day, scope)
        record = self.store.read(text, **params)[0]
        return int(record["checked"]), [str(g) for g in record["gaps"]]

    def judge(
        self, rules: list[Rule], day: date, scope: str | None
    ) -> list[tuple[int, list[Found]]]:
        """One query per rule, the gaps unnamed: ``places.describe`` names a report's
        gaps in one pass."""
        out: list[tuple[int, list[Found]]] = []
        for rule in rules:
            checked, failing = self.evaluate(rule, day, scope)
            out.append((checked, [(i, None, None) for i in failing]))
        return out


@register("neo4j")
def _evaluator(store: Store) -> CypherEvaluator:
    assert isinstance(store, Neo4jStore)
    return CypherEvaluator(store)
