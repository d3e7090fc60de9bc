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
  ``ok``) and returns how many were checked and the ids that fail;
- for a report, ``described`` queries also name each gap and give its path
  (``places.describe``'s names and paths, the same strings) in the same query, so the
  gaps' ids never travel to Python and back: the failing rows carry their name and the
  reference their trail follows (``places.TRAIL``), and ``climb`` walks up from those
  references, each step prefixing one name, to the top. A trail that does not end
  within ``MAX_DEPTH`` names (a cycle, or a very deep chain) has no path here, and
  ``places.describe`` names it instead.

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
      SELECT f.id AS id, TRUE AS keep, (EXISTS (
        SELECT 1
        FROM "PartyOrg" AS e1
        WHERE e1."area_id" = f.id
          AND coalesce(list_contains($p1, e1."form"), FALSE)
      )) AS ok
      FROM candidates AS f
    ) AS j
    WHERE j.keep
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from grassroots.graph.duck import (
    EXTRA,
    HOLDERS,
    LINK_ENDS,
    LINK_LAYOUTS,
    NODE_LAYOUTS,
    DuckStore,
    q,
)
from grassroots.graph.filters import SqlParams, matches
from grassroots.graph.store import MAX_DEPTH, Store
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
from grassroots.queries.places import ANCHOR, TRAIL
from grassroots.schema import Label, RelType
from grassroots.schema.tables import DATED_LABELS, DATED_RELS

if TYPE_CHECKING:  # not loaded with the SQL: a served store brings its HTTP client
    from grassroots.graph.served import ServedStore

SCOPE_AREAS = """{name}(id) AS (
  SELECT CAST({scope} AS VARCHAR)
  UNION
  SELECT a.id
  FROM "Area" AS a
  JOIN {name} AS s ON a."parent_id" = s.id
)"""

_OPS = {">=": ">=", "<=": "<=", ">": ">", "<": "<", "==": "=", "!=": "<>"}

UNION = "\nUNION ALL\n"

NO_TRAIL = """SELECT CAST(NULL AS VARCHAR) AS id, CAST(NULL AS VARCHAR) AS parent, '' AS shown
WHERE FALSE"""

PATHS = """trail(id, parent, shown) AS MATERIALIZED (
{trail}
),
paths(id, path, depth) AS (
  SELECT t.id, t.shown, 1
  FROM trail AS t
  WHERE t.parent IS NULL
    OR t.parent NOT IN (SELECT id FROM trail)
  UNION ALL
  SELECT t.id, p.path || '/' || t.shown, p.depth + 1
  FROM paths AS p
  JOIN trail AS t ON t.parent = p.id
  WHERE p.depth < {most}
)"""
"""The path of every node the gaps' trails climb through, built down from the tops (a
node whose reference names nothing stored): one pass over the trees, cheaper than a
climb from each gap (whose joins DuckDB builds on the tree's side). A node in a cycle,
or more than ``MAX_DEPTH`` names down, has none."""

REPORT = """SELECT c.rule, NULL, NULL, NULL, c.n
FROM checked AS c
UNION ALL
SELECT g.rule, g.id, g.shown, CASE
    WHEN g.parent IS NULL THEN g.shown
    WHEN p.id IS NOT NULL THEN CASE WHEN p.depth < {most} THEN p.path || '/' || g.shown END
    WHEN g.parent NOT IN (SELECT id FROM trail) THEN g.shown
  END, NULL
FROM gaps AS g
LEFT JOIN paths AS p ON p.id = g.parent
ORDER BY 1, 4, 2"""
"""A report's rows: how many each rule checked (the rows without an id), then each gap
with its name and path: its trail's path and its own name, its name alone where its
reference names nothing stored (as ``places.describe`` has it), and NULL where the
trail has no path (``places.describe`` names those). In each rule's order of gaps,
by path and id (DuckDB compares text by its UTF-8 bytes, that is by code points, as
Python does), so the engine's sort finds them sorted."""

SHOWN_BY_ENDS: dict[Label, tuple[RelType, ...]] = {
    Label.PAIRING: (RelType.WITH_UNIT, RelType.WITH_ORG),
    Label.DISPATCH: (RelType.OF_PERSON,),
}
"""The nodes named by their ends (``places.display_name``): a pairing by its unit and
org, a dispatch by its person (and its role)."""


class Walk(NamedTuple):
    """A path's SQL from a focus row: the joins (a table and its join condition) that
    walk it, their conditions, the conditions on the focus row itself (``guards``), and
    the expression naming the node the walk ends on."""

    joins: list[tuple[str, str]]
    where: list[str]
    guards: list[str]
    end: str


class Compiler(SqlParams):
    """One rule's SQL. Its CTEs' names begin with ``prefix`` and its parameters join
    ``params``, so that a report's rules compile into one query (``compile_report``)."""

    def __init__(self, day: date, prefix: str = "", params: dict[str, Any] | None = None) -> None:
        super().__init__()
        if params is not None:
            self.params = params
        self.prefix = prefix
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

    def path(self, steps: list[Step], focus: str) -> Walk:
        """The joins that walk ``steps`` from the focus row ``focus`` (``Walk``)."""
        joins: list[tuple[str, str]] = []
        where: list[str] = []
        guards: list[str] = []
        current = f"{focus}.id"
        row: tuple[str, Label] | None = None  # a joined row that is the node ``current``
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
                    guards.append(f"{reached} IS NOT NULL")
                elif step.dir == "out" and row is not None and row[1] is holder.label:
                    # the row reached last holds it: no second join to the same row
                    reached, target = f"{row[0]}.{column}", holder.target
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
            row = (edge, row_is_node) if row_is_node is not None else None
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
                row = (node, step.to)
            current = reached
        return Walk(joins, where, guards, current)

    def walk(self, steps: list[Step]) -> str:
        """SELECT the distinct (candidate, end node) pairs along ``steps``."""
        walk = self.path(steps, "s0")
        lines = [
            f"SELECT DISTINCT s0.id AS id, {walk.end} AS node",
            f"FROM {self.prefix}candidates AS s0",
        ]
        lines += [f"JOIN {table} ON {on}" for table, on in walk.joins]
        if where := walk.guards + walk.where:
            lines.append("WHERE " + "\n  AND ".join(where))
        return "\n".join(lines)

    def exists(self, steps: list[Step]) -> str:
        """Whether any walk along ``steps`` leaves the focus ``f``: a correlated EXISTS,
        which DuckDB runs as a semi join, a third of the cost of counting the ends. Its
        one tie to ``f`` is the first join's condition: a test of ``f`` inside it (the
        guards) or in a later join would make DuckDB join every candidate's walk
        separately (a "delim" join), 2x to 4x slower."""
        walk = self.path(steps, "f")
        if not walk.joins:  # one reference out of the focus row, and no node to test
            return "(" + " AND ".join(walk.guards + walk.where) + ")"
        (table, on), rest = walk.joins[0], walk.joins[1:]
        lines = ["SELECT 1", f"FROM {table}", *(f"JOIN {t} ON {c}" for t, c in rest)]
        lines.append("WHERE " + "\n  AND ".join([on, *walk.where]))
        found = "EXISTS (\n" + _indent("\n".join(lines)) + "\n)"
        return "(" + " AND ".join([*walk.guards, found]) + ")"

    def count(self, rule: Count) -> str:
        if rule.same_as is None and rule.path:
            if rule.at_least == 1 and rule.at_most is None:
                return self.exists(rule.path)
            if not rule.at_least and rule.at_most == 0:
                return f"(NOT {self.exists(rule.path)})"
        name = f"{self.prefix}count_{len(self.ctes) + 1}"
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

    # -- names and trails (``places.describe`` in SQL) -----------------------------------

    def carried(self, label: Label) -> list[str]:
        """The focus columns a gap's name and trail are made of, carried by ``judged``."""
        layout = NODE_LAYOUTS[label]
        if label in SHOWN_BY_ENDS:
            columns = [HOLDERS[rel].column for rel in SHOWN_BY_ENDS[label]]
            if label is Label.DISPATCH:
                columns.append("role" if "role" in layout.types else EXTRA)
        else:
            columns = ["name" if "name" in layout.types else EXTRA]
        rel = TRAIL.get(label)
        if rel in HOLDERS and HOLDERS[rel].label is label:
            columns.append(HOLDERS[rel].column)
        return list(dict.fromkeys(["id", *columns]))

    def shown(self, label: Label, alias: str) -> tuple[str, list[str]]:
        """The name a node of ``label`` is shown by in a path (``places.display_name``),
        as an expression over row ``alias``, and the LEFT JOINs to its ends it needs."""
        layout = NODE_LAYOUTS[label]
        if label not in SHOWN_BY_ENDS:
            return f"coalesce(nullif({self.text(alias, layout, 'name')}, ''), {alias}.id)", []
        names, joins = [], []
        for index, rel in enumerate(SHOWN_BY_ENDS[label], 1):
            holder, end = HOLDERS[rel], f"{alias}_end{index}"
            named = self.text(end, NODE_LAYOUTS[holder.target], "name")
            joins.append(
                f"LEFT JOIN {q(holder.target.value)} AS {end}"
                f" ON {end}.id = {alias}.{q(holder.column)}"
            )
            names.append(
                f"CASE WHEN {end}.id IS NULL THEN '?'"
                f" ELSE coalesce(nullif({named}, ''), {end}.id) END"
            )
        if label is Label.DISPATCH:
            (person,) = names
            role = self.text(alias, layout, "role")
            return f"{person} || '(' || coalesce({role}, '') || ')'", joins
        return " || '—' || ".join(names), joins

    def parent(self, label: Label, alias: str) -> str:
        """The reference a node's trail follows (``places.TRAIL``), NULL if it has none."""
        rel = TRAIL.get(label)
        if rel not in HOLDERS or HOLDERS[rel].label is not label:
            return "CAST(NULL AS VARCHAR)"
        return f"{alias}.{q(HOLDERS[rel].column)}"

    def trail(self, foci: list[Label]) -> str:
        """Every node the trails from ``foci`` climb through, as ``(id, parent, shown)``
        rows: the labels their references lead to, and theirs (an area's trail is its
        tree)."""
        labels: list[Label] = []
        for focus in foci:
            current = focus
            while (rel := TRAIL.get(current)) in HOLDERS and HOLDERS[rel].target not in labels:
                current = HOLDERS[rel].target
                labels.append(current)
        parts = []
        for label in labels:
            shown, joins = self.shown(label, "n")
            lines = [
                f"SELECT n.id, {self.parent(label, 'n')} AS parent, {shown} AS shown",
                f"FROM {q(label.value)} AS n",
                *joins,
            ]
            parts.append("\n".join(lines))
        if not parts:  # nothing lies above any focus: no trail to climb
            parts.append(NO_TRAIL)
        return "\nUNION ALL\n".join(parts)

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
            return f"f.id IN (SELECT id FROM {self.prefix}scope_areas)"
        inner = f"SELECT id FROM {self.prefix}scope_areas"
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

    def parts(self, rule: Rule, scope: str | None, described: bool) -> tuple[list[str], str]:
        """The rule's CTEs, and the SELECT that judges each candidate: ``(id, keep, ok)``
        and, when ``described``, the columns its name and trail are made of."""
        assert rule.focus is not None and rule.condition is not None
        label = rule.focus.label
        where = self.filters("f", NODE_LAYOUTS[label], rule.focus.where)
        if label in DATED_LABELS:
            where.append(self.active("f", self.day))
        scoped: list[str] = []
        if scope is not None:
            scoped.append(
                SCOPE_AREAS.format(name=f"{self.prefix}scope_areas", scope=self.param(scope))
            )
            where.append(self.anchored(label))
        candidates = f"SELECT f.*\nFROM {q(label.value)} AS f"
        if where:
            candidates += "\nWHERE " + "\n  AND ".join(where)
        keep = "TRUE"
        if rule.focus.having is not None:
            keep = self.condition(label, rule.focus.having)
        ok = self.condition(label, rule.condition)
        columns = [f"f.id AS id, {keep} AS keep, {ok} AS ok"]
        if described:
            columns += [f"f.{q(c)}" for c in self.carried(label) if c != "id"]
        judged = "\n".join(
            [
                f"SELECT {', '.join(columns)}",
                f"FROM {self.prefix}candidates AS f",
                *self.joins,
            ]
        )
        ctes = [*scoped, f"{self.prefix}candidates AS (\n{_indent(candidates)}\n)", *self.ctes]
        return ctes, judged

    def rule(self, rule: Rule, scope: str | None) -> str:
        ctes, judged = self.parts(rule, scope, described=False)
        return (
            "WITH RECURSIVE\n"
            + ",\n".join(ctes)
            + "\nSELECT count(*), list(j.id ORDER BY j.id) FILTER (WHERE NOT j.ok)"
            + f"\nFROM (\n{_indent(judged)}\n) AS j\nWHERE j.keep"
        )

    def failing(self, rule: Rule, scope: str | None) -> list[str]:
        """The rule's CTEs for a report, ending in ``{prefix}judged(n, failing)``, one
        row: how many were checked, and the gaps' own columns as a list, and
        ``{prefix}failing(id, parent, shown)``: each gap, the reference its trail
        follows, and its name. (One pass over the candidates: a judged table read
        twice would be materialised whole, every candidate of every rule.)"""
        assert rule.focus is not None
        label = rule.focus.label
        ctes, judged = self.parts(rule, scope, described=True)
        carried = ", ".join(f"{q(c)} := j.{q(c)}" for c in self.carried(label))
        counted = "\n".join(
            [
                "SELECT count(*) AS n,",
                f"  list(struct_pack({carried})) FILTER (WHERE NOT j.ok) AS failing",
                f"FROM (\n{_indent(judged)}\n) AS j",
                "WHERE j.keep",
            ]
        )
        shown, joins = self.shown(label, "j")
        failing = "\n".join(
            [
                f"SELECT j.id, {self.parent(label, 'j')} AS parent, {shown} AS shown",
                "FROM (",
                "  SELECT UNNEST(r.failing, recursive := TRUE)",
                f"  FROM {self.prefix}judged AS r",
                ") AS j",
                *joins,
            ]
        )
        return [
            *ctes,
            f"{self.prefix}judged AS MATERIALIZED (\n{_indent(counted)}\n)",
            f"{self.prefix}failing AS (\n{_indent(failing)}\n)",
        ]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def compile_rule(rule: Rule, day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    compiler = Compiler(day)
    text = compiler.rule(rule, scope)
    return text, compiler.params


def compile_report(rules: list[Rule], day: date, scope: str | None) -> tuple[str, dict[str, Any]]:
    """One query for all of ``rules``: each rule's CTEs (prefixed ``rN_``), then the
    paths of the trees their gaps lie in, computed once for all (``PATHS``), and the
    ``REPORT`` rows."""
    params: dict[str, Any] = {}
    ctes: list[str] = []
    for index, rule in enumerate(rules):
        ctes += Compiler(day, f"r{index}_", params).failing(rule, scope)
    compiler = Compiler(day, "", params)
    most = compiler.param(MAX_DEPTH)
    foci = [rule.focus.label for rule in rules if rule.focus is not None]
    ctes.append(PATHS.format(trail=_indent(compiler.trail(foci)), most=most))
    indexes = range(len(rules))
    checked = [f"SELECT {index} AS rule, n\nFROM r{index}_judged" for index in indexes]
    gaps = [f"SELECT {index} AS rule, f.*\nFROM r{index}_failing AS f" for index in indexes]
    ctes.append(f"checked AS (\n{_indent(UNION.join(checked))}\n)")
    ctes.append(f"gaps AS (\n{_indent(UNION.join(gaps))}\n)")
    return "WITH RECURSIVE\n" + ",\n".join(ctes) + "\n" + REPORT.format(most=most), params


class SqlEvaluator:
    def __init__(self, store: DuckStore | ServedStore) -> None:
        self.store = store

    def evaluate(self, rule: Rule, day: date, scope: str | None) -> tuple[int, list[str]]:
        text, params = compile_rule(rule, day, scope)
        ((checked, gaps),) = self.store.query(text, params)
        return int(checked), [str(g) for g in gaps or []]

    def judge(
        self, rules: list[Rule], day: date, scope: str | None
    ) -> list[tuple[int, list[Found]]]:
        """All of ``rules`` in one query (``compile_report``), their gaps named."""
        if not rules:
            return []
        text, params = compile_report(rules, day, scope)
        checked = [0] * len(rules)
        found: list[list[Found]] = [[] for _ in rules]
        for rule, node_id, name, path, count in self.store.query(text, params):
            if node_id is None:
                checked[rule] = int(count)
            else:
                found[rule].append((node_id, name, path))
        return list(zip(checked, found, strict=True))


@register("local")
@register("served")  # the local store, through a running serve (graph/served.py)
def _evaluator(store: Store) -> SqlEvaluator:
    # registered for these two names only; a served one: serve runs the SQL
    return SqlEvaluator(cast("DuckStore | ServedStore", store))
