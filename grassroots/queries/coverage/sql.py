"""Rules compiled to SQL for the DuckDB store: one query per rule, over all focus nodes.

The same rule model that ``cypher.py`` compiles to Cypher, translated set by set:

- ``candidates``: the focus table's rows that pass the focus filters, the as-of test (a
  dated focus) and the scope: the area the node lies in (``places.ANCHOR``, followed as
  reference columns) is one of ``scope_areas``, the scope area's subtree, a recursive
  CTE down ``Area.parent_id``;
- a ``count`` condition asking for at least one end (or for none) is a correlated
  ``EXISTS`` over the path, which DuckDB runs as a semi join (a third of the cost of
  counting: households with a member contact, 756k of them, 0.2 s instead of 0.6 s);
  any other ``count`` is a CTE ``count_N(id, n)``: the distinct end nodes reached from
  each candidate along the path. Each step is a join (a reference is a column of the
  node table, the focus row's own reference no join at all; a link a row of its type's
  table), dated links and nodes filtered as of the day (``same_as``: the ends reached
  along both paths, intersected);
- the final SELECT judges each candidate (``having`` keeps it, the condition makes it
  ``ok``) and returns how many were checked and the ids that fail.

Every value is a parameter (``$p0``...); table and column names come from the schema's
enums and models through ``grassroots.graph.duck``'s layout. ``grid_has_branch`` reads::

    WITH RECURSIVE
    candidates AS (
      SELECT f.*
      FROM "Area" AS f
      WHERE coalesce(list_contains($p0, f."kind"), FALSE)
    )
    SELECT count(*), list(j.id ORDER BY j.id) FILTER (WHERE NOT j.ok)
    FROM (
      SELECT f.id AS id, TRUE AS keep, EXISTS (
        SELECT 1
        FROM "PartyOrg" AS e1
        WHERE e1."area_id" = f.id
          AND coalesce(list_contains($p1, e1."form"), FALSE)
      ) AS ok
      FROM candidates AS f
    ) AS j
    WHERE j.keep
"""

from __future__ import annotations

from datetime import date
from typing import Any

from grassroots.graph.duck import HOLDERS, LINK_ENDS, LINK_LAYOUTS, NODE_LAYOUTS, DuckStore, q
from grassroots.graph.served import ServedStore
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
from grassroots.queries.filters import SqlParams, matches
from grassroots.queries.places import ANCHOR
from grassroots.schema import Label
from grassroots.schema.tables import DATED_LABELS, DATED_RELS

SCOPE_AREAS = """scope_areas(id) AS (
  SELECT CAST({scope} AS VARCHAR)
  UNION
  SELECT a.id
  FROM "Area" AS a
  JOIN scope_areas AS s ON a."parent_id" = s.id
)"""

_OPS = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "==": "=", "!=": "<>"}


class Compiler(SqlParams):
    def __init__(self, day: date) -> None:
        super().__init__()
        self.as_of = day
        self._day: str | None = None
        self.ctes: list[str] = []
        self.joins: list[str] = []

    @property
    def day(self) -> str:
        """The as-of day's parameter, made on first use (DuckDB refuses unused ones)."""
        if self._day is None:
            self._day = self.param(self.as_of)
        return self._day

    # -- paths --------------------------------------------------------------------------

    def path(self, steps: list[Step], focus: str) -> tuple[list[tuple[str, str]], list[str], str]:
        """The joins (a table and its join condition) that walk ``steps`` from the focus
        row ``focus``, their conditions, and the expression naming the node each walk
        ends on."""
        joins: list[tuple[str, str]] = []
        where: list[str] = []
        current = f"{focus}.id"
        for index, step in enumerate(steps, 1):
            edge = f"e{index}"
            row_is_node: Label | None = None  # the edge's row is the node reached
            if step.rel in LINK_LAYOUTS:
                near, far = ("start", "end") if step.dir == "out" else ("end", "start")
                joins.append((f"{q(step.rel.value)} AS {edge}", f"{edge}.{q(near)} = {current}"))
                where += self.filters(edge, LINK_LAYOUTS[step.rel], step.where)
                if step.rel in DATED_RELS:
                    where.append(self.active(edge, self.day))
                reached = f"{edge}.{q(far)}"
                first, last = LINK_ENDS[step.rel]
                target = last if step.dir == "out" else first
            else:  # a reference: a column of the node table holding it
                holder = HOLDERS[step.rel]
                column = q(holder.column)
                table = f"{q(holder.label.value)} AS {edge}"
                if step.dir == "out" and index == 1:  # the focus row holds the reference
                    reached, target = f"{focus}.{column}", holder.target
                    where.append(f"{reached} IS NOT NULL")
                elif step.dir == "out":
                    joins.append((table, f"{edge}.id = {current}"))
                    reached, target = f"{edge}.{column}", holder.target
                    where.append(f"{reached} IS NOT NULL")
                else:
                    joins.append((table, f"{edge}.{column} = {current}"))
                    reached, target = f"{edge}.id", holder.label
                    row_is_node = holder.label
                if not matches({}, step.where):  # a reference has no properties
                    where.append("FALSE")
            dated = step.to in DATED_LABELS
            if step.to_where or dated or step.to is not target:
                if row_is_node is step.to:
                    node = edge
                else:
                    node = f"n{index}"
                    joins.append((f"{q(step.to.value)} AS {node}", f"{node}.id = {reached}"))
                where += self.filters(node, NODE_LAYOUTS[step.to], step.to_where)
                if dated:
                    where.append(self.active(node, self.day))
            current = reached
        return joins, where, current

    def walk(self, steps: list[Step]) -> str:
        """SELECT the distinct (candidate, end node) pairs along ``steps``."""
        joins, where, end = self.path(steps, "s0")
        lines = [f"SELECT DISTINCT s0.id AS id, {end} AS node", "FROM candidates AS s0"]
        lines += [f"JOIN {table} ON {on}" for table, on in joins]
        if where:
            lines.append("WHERE " + "\n  AND ".join(where))
        return "\n".join(lines)

    def exists(self, steps: list[Step]) -> str:
        """Whether any walk along ``steps`` leaves the focus ``f``: a correlated EXISTS,
        which DuckDB runs as a semi join, a third of the cost of counting the ends."""
        joins, where, _ = self.path(steps, "f")
        if not joins:  # one reference out of the focus row, and no node to test
            return "(" + " AND ".join(where) + ")"
        (table, on), rest = joins[0], joins[1:]
        lines = ["SELECT 1", f"FROM {table}", *(f"JOIN {t} ON {c}" for t, c in rest)]
        lines.append("WHERE " + "\n  AND ".join([on, *where]))
        return "EXISTS (\n" + _indent("\n".join(lines)) + "\n)"

    def count(self, rule: Count) -> str:
        if rule.same_as is None and rule.path:
            if rule.at_least == 1 and rule.at_most is None:
                return self.exists(rule.path)
            if not rule.at_least and rule.at_most == 0:
                return f"(NOT {self.exists(rule.path)})"
        name = f"count_{len(self.ctes) + 1}"
        reached = self.walk(rule.path)
        if rule.same_as is not None:
            reached += "\nINTERSECT\n" + self.walk(rule.same_as)
        body = "\n".join(
            [
                "SELECT r.id AS id, count(*) AS n",
                f"FROM (\n{_indent(reached)}\n) AS r",
                "GROUP BY r.id",
            ]
        )
        self.ctes.append(f"{name} AS (\n{_indent(body)}\n)")
        self.joins.append(f"LEFT JOIN {name} ON {name}.id = f.id")
        found = f"coalesce({name}.n, 0)"
        bounds = []
        if rule.at_least is not None:
            bounds.append(f"{found} >= {self.param(rule.at_least)}")
        if rule.at_most is not None:
            bounds.append(f"{found} <= {self.param(rule.at_most)}")
        return "(" + " AND ".join(bounds) + ")"

    # -- conditions on the focus node ``f`` ---------------------------------------------

    def condition(self, label: Label, condition: Condition) -> str:
        layout = NODE_LAYOUTS[label]
        if isinstance(condition, AllOf):
            return "(" + " AND ".join(self.condition(label, c) for c in condition.of) + ")"
        if isinstance(condition, AnyOf):
            return "(" + " OR ".join(self.condition(label, c) for c in condition.of) + ")"
        if isinstance(condition, Match):
            return "(" + (" AND ".join(self.filters("f", layout, condition.where)) or "TRUE") + ")"
        if isinstance(condition, Compare):
            right = self.param(condition.value)
            if condition.times is not None:
                right = f"{right} * {self.number('f', layout, condition.times)}"
            left = self.number("f", layout, condition.property)
            return f"coalesce({left} {_OPS[condition.op]} {right}, FALSE)"
        return self.count(condition)

    def anchored(self, label: Label) -> str:
        """The focus ``f`` lies in one of ``scope_areas``: its anchor references, followed
        from table to table, end on one of them."""
        rels = ANCHOR[label]
        if not rels:
            return "f.id IN (SELECT id FROM scope_areas)"
        inner = "SELECT id FROM scope_areas"
        for depth, rel in reversed(list(enumerate(rels))):
            holder = HOLDERS[rel]
            if depth == 0:
                return f"f.{q(holder.column)} IN ({inner})"
            alias = f"a{depth}"
            inner = (
                f"SELECT {alias}.id FROM {q(holder.label.value)} AS {alias}"
                f" WHERE {alias}.{q(holder.column)} IN ({inner})"
            )
        raise AssertionError("unreachable")

    def rule(self, rule: Rule, scope: str | None) -> str:
        assert rule.focus is not None and rule.condition is not None
        label = rule.focus.label
        where = self.filters("f", NODE_LAYOUTS[label], rule.focus.where)
        if label in DATED_LABELS:
            where.append(self.active("f", self.day))
        scoped: list[str] = []
        if scope is not None:
            scoped.append(SCOPE_AREAS.format(scope=self.param(scope)))
            where.append(self.anchored(label))
        candidates = f"SELECT f.*\nFROM {q(label.value)} AS f"
        if where:
            candidates += "\nWHERE " + "\n  AND ".join(where)
        keep = "TRUE"
        if rule.focus.having is not None:
            keep = self.condition(label, rule.focus.having)
        ok = self.condition(label, rule.condition)
        judged = "\n".join(
            [f"SELECT f.id AS id, {keep} AS keep, {ok} AS ok", "FROM candidates AS f", *self.joins]
        )
        ctes = [*scoped, f"candidates AS (\n{_indent(candidates)}\n)", *self.ctes]
        return (
            "WITH RECURSIVE\n"
            + ",\n".join(ctes)
            + "\nSELECT count(*), list(j.id ORDER BY j.id) FILTER (WHERE NOT j.ok)"
            + f"\nFROM (\n{_indent(judged)}\n) AS j\nWHERE j.keep"
        )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def compile_rule(rule: Rule, day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    compiler = Compiler(day)
    text = compiler.rule(rule, scope)
    return text, compiler.params


class SqlEvaluator:
    def __init__(self, store: DuckStore | ServedStore) -> None:
        self.store = store

    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        text, params = compile_rule(rule, day, scope)
        ((checked, gaps),) = self.store.query(text, params)
        return int(checked), [str(g) for g in gaps or []]


@register("local")
@register("served")  # the local store, through a running serve (graph/served.py)
def _evaluator(store: Store) -> SqlEvaluator:
    assert isinstance(store, DuckStore | ServedStore)  # a served one: serve runs the SQL
    return SqlEvaluator(store)
