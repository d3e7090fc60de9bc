"""Property filters, and the as-of test, in their two renderings: Python over a node's
properties (the memory store) and Cypher text with parameters (Neo4j). One semantics:

- a list means "one of" (absent fails), a scalar "equal" (absent fails);
- ``{"ne": v}``: absent counts as different; ``{"gte"|"lte"|"gt"|"lt": n}``: numeric,
  absent or non-numeric fails; ``{"exists": bool}``;
- *active on D*: ``since`` empty or <= D, and ``until`` empty or >= D (ISO text compares
  as days do).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from grassroots.schema import Props

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


class CypherParams:
    """Collects parameters while Cypher text is built, so no value is ever inlined."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"

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
