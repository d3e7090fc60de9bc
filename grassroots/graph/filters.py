"""Property filters, and the as-of test, in their three renderings: Python over a node's
properties (what a filter asks of a reference, which has none), Cypher text with
parameters (Neo4j) and SQL text with parameters (DuckDB, over typed columns). They live
with the stores, which filter their reads with them; the queries use them too. One
semantics:

- a list means "one of" (absent fails), a scalar "equal" (absent fails);
- ``{"ne": v}``: absent counts as different; ``{"gte"|"lte"|"gt"|"lt": n}``: numeric,
  absent or non-numeric fails; ``{"exists": bool}``;
- *active on D*: ``since`` empty or <= D, and ``until`` empty or >= D (ISO text compares
  as days do).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from grassroots.schema import Props

if TYPE_CHECKING:
    from grassroots.graph.duck import Layout

Filters = dict[str, Any]
OPERATORS = frozenset({"ne", "gte", "lte", "gt", "lt", "exists"})
NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "gte": operator.ge,
    "lte": operator.le,
    "gt": operator.gt,
    "lt": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_CYPHER = {"gte": ">=", "lte": "<=", "gt": ">", "lt": "<"}


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def matches(props: Props, filters: Filters) -> bool:
    for name, wanted in filters.items():
        value = props.get(name)
        if isinstance(wanted, list):
            if value is None or value not in wanted:
                return False
        elif isinstance(wanted, dict):
            ((op, operand),) = wanted.items()
            if op == "exists":
                if (value is not None) != bool(operand):
                    return False
            elif op == "ne":
                if value is not None and value == operand:
                    return False
            else:
                found = number(value)
                if found is None or not NUMERIC[op](found, float(operand)):
                    return False
        elif value is None or value != wanted:
            return False
    return True


def active(props: Props, day: str) -> bool:
    since, until = props.get("since"), props.get("until")
    return (since is None or since <= day) and (until is None or day <= until)


def prop(var: str, name: str) -> str:
    """A property reference in Cypher, quoted so any name (Chinese included) is safe."""
    return f"{var}.`{name.replace('`', '``')}`"


class Params:
    """Collects named parameters (``$p0``...) while query text is built, so no value is
    ever inlined; Cypher and DuckDB's SQL spell a parameter alike."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


class CypherParams(Params):
    """Parameters and filter clauses for Cypher text."""

    def filters(self, var: str, filters: Filters) -> list[str]:
        out = []
        for name, wanted in filters.items():
            ref = prop(var, name)
            if isinstance(wanted, list):
                out.append(f"{ref} IN {self.param(wanted)}")
            elif isinstance(wanted, dict):
                ((op, operand),) = wanted.items()
                if op == "exists":
                    out.append(f"{ref} IS {'NOT ' if operand else ''}NULL")
                elif op == "ne":
                    out.append(f"({ref} IS NULL OR {ref} <> {self.param(operand)})")
                else:
                    out.append(f"toFloat({ref}) {_CYPHER[op]} {self.param(float(operand))}")
            else:
                out.append(f"{ref} = {self.param(wanted)}")
        return out

    @staticmethod
    def active(var: str, day: str = "$day") -> str:
        return (
            f"({var}.since IS NULL OR {var}.since <= {day})"
            f" AND ({var}.until IS NULL OR {day} <= {var}.until)"
        )


_NOTHING = object()

LONG_LIST = 100
"""Beyond this many values a list filter is a semi-join on DuckDB: ``list_contains``
walks the whole list for every row (a district's 8,521 areas against as many rows: a
second), a join hashes it once (milliseconds)."""


def sql_value(kind: str, value: Any) -> Any:
    """The value a ``kind`` column holds that equals ``value`` as Python compares them
    (``3 == 3.0``, ``True == 1``; a day is its ISO text), or ``_NOTHING`` if none does."""
    number_like = isinstance(value, int | float)
    if kind == "VARCHAR":
        return value if isinstance(value, str) else _NOTHING
    if kind == "DATE":
        if isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return _NOTHING
            return day if day.isoformat() == value else _NOTHING
        return _NOTHING
    if kind == "BIGINT":
        if number_like and float(value).is_integer() and abs(value) < 2**63:
            return int(value)
        return _NOTHING
    if kind == "DOUBLE":
        return float(value) if number_like else _NOTHING
    if kind == "BOOLEAN":
        return bool(value) if number_like and value in (0, 1) else _NOTHING
    raise AssertionError(kind)


class SqlParams(Params):
    """Parameters and filter clauses for DuckDB SQL text. A property is its typed column
    when the table has one; any other property lies in the ``extra`` JSON column and
    compares as its text (ledgers' extra columns are text; the rule packs filter on typed
    columns only)."""

    def prop(self, alias: str, layout: Layout, name: str) -> tuple[str, str]:
        """A property as an SQL expression, and its column type (VARCHAR for extra)."""
        from grassroots.graph.duck import EXTRA, q

        kind = layout.types.get(name)
        if kind is not None:
            return f"{alias}.{q(name)}", kind
        pointer = "/" + name.replace("~", "~0").replace("/", "~1")  # a JSON pointer
        return f"({alias}.{q(EXTRA)} ->> {self.param(pointer)})", "VARCHAR"

    def text(self, alias: str, layout: Layout, name: str) -> str:
        """A property as text (a VARCHAR column as it is), for ``name`` and ``kind``."""
        expression, kind = self.prop(alias, layout, name)
        return expression if kind == "VARCHAR" else f"CAST({expression} AS VARCHAR)"

    def number(self, alias: str, layout: Layout, name: str) -> str:
        """A property as a DOUBLE, NULL where ``number()`` gives None."""
        expression, kind = self.prop(alias, layout, name)
        if kind in ("BIGINT", "DOUBLE"):
            return f"CAST({expression} AS DOUBLE)"
        if kind == "VARCHAR":
            return f"TRY_CAST({expression} AS DOUBLE)"
        return "CAST(NULL AS DOUBLE)"  # booleans and days are no numbers

    def one_of(self, expression: str, kind: str, wanted: list[Any]) -> str:
        """``expression`` is one of ``wanted``: a short list searched row by row, a long
        one (``LONG_LIST``) hashed once and joined against."""
        values = [v for v in (sql_value(kind, w) for w in wanted) if v is not _NOTHING]
        if not values:
            return "FALSE"
        if len(values) > LONG_LIST:
            return f"coalesce({expression} IN (SELECT UNNEST({self.param(values)})), FALSE)"
        return f"coalesce(list_contains({self.param(values)}, {expression}), FALSE)"

    def filters(self, alias: str, layout: Layout, filters: Filters) -> list[str]:
        out = []
        for name, wanted in filters.items():
            expression, kind = self.prop(alias, layout, name)
            if isinstance(wanted, list):
                out.append(self.one_of(expression, kind, wanted))
            elif isinstance(wanted, dict):
                ((op, operand),) = wanted.items()
                if op == "exists":
                    out.append(f"{expression} IS {'NOT ' if operand else ''}NULL")
                elif op == "ne":
                    same = self.one_of(expression, kind, [operand])
                    out.append(f"({expression} IS NULL OR NOT {same})")
                else:
                    value = self.number(alias, layout, name)
                    limit = self.param(float(operand))
                    out.append(f"coalesce({value} {_CYPHER[op]} {limit}, FALSE)")
            else:
                out.append(self.one_of(expression, kind, [wanted]))
        return out

    @staticmethod
    def active(alias: str, day: str) -> str:
        """``day`` names a DATE parameter; ``since`` and ``until`` are DATE columns."""
        return (
            f'({alias}."since" IS NULL OR {alias}."since" <= {day})'
            f' AND ({alias}."until" IS NULL OR {day} <= {alias}."until")'
        )
