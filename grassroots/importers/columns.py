"""Validating a ledger table by column instead of by row object.

Each known column is checked once over the whole table: a choice, day, flag, count or
amount column is parsed once per *distinct* value, with the column's own pydantic type
(so a value is accepted exactly when the model accepts it); an id or text column is
stripped as ``parse_text`` strips it and refused when empty or (an id) holding ``|``. A
row that any of these checks flags, or whose cells are anything but printable text of
a permitted length (a dump's numbers, a control character), goes through the row path
(``ledger.validate_row``) instead, which produces the row's exact problems, or its values
when it was valid after all. So the problems never differ from the row path's; the
property test in ``tests/test_import.py`` runs both on many broken bundles.

What comes out is a ``Columns`` per table: the typed values of every valid row, column by
column, ready to be staged in a store as one table (``DuckStore.stage``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any

import orjson
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from grassroots.errors import Problem
from grassroots.importers.sources import RawTable
from grassroots.schema import Table
from grassroots.schema.base import Dated, parse_id, parse_text

ROW = "_row"
EXTRA = "_extra"


@dataclass
class Columns:
    """The valid rows of one table: ``values[column][i]`` is row ``numbers[i]``'s value
    (as the model's ``model_dump`` gives it, choices as their value, days as dates);
    ``extra[i]`` the JSON of its kept unknown cells, or None."""

    table: Table
    ordinal: int  # the table's place in the bundle: the first of two equal ids wins
    numbers: list[int] = field(default_factory=list)
    values: dict[str, list[Any]] = field(default_factory=dict)
    extra: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.numbers)


RowCheck = Callable[..., Any]


def _validators(info: FieldInfo) -> set[Any]:
    """The ``BeforeValidator`` functions of a field, also inside ``X | None``."""
    found = {getattr(m, "func", None) for m in info.metadata}
    annotation = info.annotation
    args = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    for arg in args:
        if typing.get_origin(arg) is Annotated:
            found.update(getattr(m, "func", None) for m in typing.get_args(arg)[1:])
    return found


def _is_union(annotation: Any) -> bool:
    return isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class _Column:
    """How one model field is checked over a whole column."""

    def __init__(self, name: str, info: FieldInfo) -> None:
        self.name = name
        self.required = info.is_required()
        self.default = None if self.required else _plain(info.get_default())
        funcs = _validators(info)
        self.kind = "id" if parse_id in funcs else "text" if parse_text in funcs else "parsed"
        annotation: Any = info.annotation
        # the field's own type with its constraints: a value passes exactly as in the model
        self.adapter: TypeAdapter[Any] = TypeAdapter(
            Annotated[annotation, *info.metadata] if info.metadata else annotation
        )

    def convert(self, cells: list[Any], bad: set[int]) -> list[Any]:
        """The column's typed values; adds to ``bad`` the positions the model may refuse."""
        out: list[Any] = []
        if self.kind == "parsed":
            parsed: dict[Any, Any] = {}
            for i, cell in enumerate(cells):
                if i in bad:  # not text: the row path judges it
                    out.append(None)
                    continue
                if cell is None:
                    out.append(self.default)
                    if self.required:
                        bad.add(i)
                    continue
                if cell not in parsed:
                    try:
                        parsed[cell] = _plain(self.adapter.validate_python(cell))
                    except ValidationError:
                        parsed[cell] = _REFUSED
                value = parsed[cell]
                if value is _REFUSED or value is None:
                    bad.add(i)
                out.append(value)
            return out
        for i, cell in enumerate(cells):
            if i in bad:
                out.append(None)
                continue
            if cell is None:
                out.append(self.default)
                if self.required:
                    bad.add(i)
                continue
            text = cell.strip()  # parse_text, for the text cells these columns hold
            if not text or (self.kind == "id" and "|" in text):
                bad.add(i)
            out.append(text)
        return out


_REFUSED = object()
_COLUMNS: dict[str, dict[str, _Column]] = {}


def _columns_of(table: Table) -> dict[str, _Column]:
    if table.name not in _COLUMNS:
        _COLUMNS[table.name] = {
            name: _Column(name, info) for name, info in table.model.model_fields.items()
        }
    return _COLUMNS[table.name]


def _plain_text(cells: list[Any], bad: set[int], max_cell: int) -> None:
    """Flags the cells that are not short printable text: the row path judges those."""
    present = [c for c in cells if c is not None]
    if all(type(c) is str for c in present):
        joined = "".join(present)
        if joined.isprintable() and max(map(len, present), default=0) <= max_cell:
            return  # the common case, checked at C speed over the whole column
    for i, cell in enumerate(cells):
        if cell is not None and not (
            type(cell) is str and cell.isprintable() and len(cell) <= max_cell
        ):
            bad.add(i)


def validate_columns(
    raw: RawTable,
    columns: dict[str, str],
    ordinal: int,
    problems: list[Problem],
    max_cell: int,
    row_check: RowCheck,
) -> Columns:
    """The valid rows of ``raw`` by column; ``columns`` maps headers to columns
    (``ledger.map_headers``), ``row_check`` is ``ledger.validate_row``."""
    table = raw.table
    rows = raw.rows
    bad: set[int] = set()
    fields = _columns_of(table)
    by_column = {name: header for header, name in columns.items()}
    typed: dict[str, list[Any]] = {}
    for name, check in fields.items():
        header = by_column.get(name)
        if header is None:
            typed[name] = [check.default] * len(rows)
            if check.required:  # cannot happen: map_headers refuses the table
                bad.update(range(len(rows)))
            continue
        cells = [row.cells.get(header) for row in rows]
        _plain_text(cells, bad, max_cell)
        typed[name] = check.convert(cells, bad)
    if issubclass(table.model, Dated):
        for i, (since, until) in enumerate(zip(typed["since"], typed["until"], strict=True)):
            if since is not None and until is not None and until < since:
                bad.add(i)
    extra_headers = list(dict.fromkeys(h for h in raw.headers if h and h not in columns))
    extras: list[str | None] = [None] * len(rows)
    if extra_headers:
        for header in extra_headers:
            _plain_text([row.cells.get(header) for row in rows], bad, max_cell)
        for i, row in enumerate(rows):
            if i in bad:
                continue
            kept = {h: row.cells[h] for h in extra_headers if h in row.cells}
            extras[i] = orjson.dumps(kept).decode() if kept else None

    keep = [i for i in range(len(rows)) if i not in bad] if bad else None
    out = Columns(table, ordinal)
    if keep is None:
        out.numbers = [row.number for row in rows]
        out.values = typed
        out.extra = extras
    else:
        out.numbers = [rows[i].number for i in keep]
        out.values = {name: [values[i] for i in keep] for name, values in typed.items()}
        out.extra = [extras[i] for i in keep]
    for i in sorted(bad):  # the row path: its exact problems, or the row's values
        checked = row_check(table, rows[i], columns, problems, max_cell)
        if checked is None:
            continue
        model_row, extra = checked
        dumped = model_row.model_dump()
        for name, values in out.values.items():
            values.append(_plain(dumped[name]))
        out.extra.append(orjson.dumps(extra).decode() if extra else None)
        out.numbers.append(rows[i].number)
    return out
