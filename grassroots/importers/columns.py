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

A CSV file that ``sources`` left unread goes into the staging tables without its rows
becoming Python values at all (``read_csv``): DuckDB reads the file, cells are stripped
and blank rows dropped as ``sources`` does it, each distinct value of a parsed column is
parsed once in Python as above, and the checks are SQL expressions over the whole table.
Only the rows they flag are fetched and go through the row path.
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
from grassroots.graph.duck import Staging, q, staged_columns
from grassroots.importers.sources import RawRow, RawTable
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
        parsed: dict[Any, Any] = {}  # each distinct cell parsed once
        for i, cell in enumerate(cells):
            if i in bad:  # not text: the row path judges it
                out.append(None)
                continue
            if cell is None:
                out.append(self.default)
                if self.required:
                    bad.add(i)
                continue
            if self.kind == "parsed":
                if cell not in parsed:
                    try:
                        parsed[cell] = _plain(self.adapter.validate_python(cell))
                    except ValidationError:
                        parsed[cell] = _REFUSED
                value = parsed[cell]
                if value is _REFUSED or value is None:
                    bad.add(i)
            else:
                value = cell.strip()  # parse_text, for the text cells these columns hold
                if not value or (self.kind == "id" and "|" in value):
                    bad.add(i)
            out.append(value)
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


# -- a CSV file read and checked in SQL ----------------------------------------------------

BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""What ``str.strip()`` takes off a cell (every character ``str.isspace`` says is
blank; a test keeps this true), for SQL's ``trim``."""

_PLAIN_END = f"(ord({{end}}) BETWEEN 33 AND 126 OR ord({{end}}) > {max(map(ord, BLANKS))})"
TRIMMED = f"""CASE
    WHEN {_PLAIN_END.format(end="{cell}")} AND {_PLAIN_END.format(end="{cell}[-1]")}
    THEN {{cell}}
    ELSE nullif(trim({{cell}}, $blanks), '')
  END"""
"""A cell as ``sources`` strips it. Trimming a set of characters costs many times a plain
copy, so a cell is trimmed only if it begins or ends with a character that may be blank:
not visible ASCII, and not above the highest blank (U+3000, below every CJK ideograph)."""

PRINTABLE_ASCII = "[ -~]*"
"""Text that is printable for certain; anything else is checked by Python's own
``str.isprintable`` (Unicode's categories, as Python's version of them has them)."""

CELLS = """
CREATE OR REPLACE TEMP TABLE {cells} AS
SELECT *
FROM (
  SELECT rowid + 1 AS _row, {trimmed}
  FROM {read}
)
WHERE _row > 1
  AND coalesce({names}) IS NOT NULL
"""

CHECKED = """
CREATE OR REPLACE TEMP TABLE {checked} AS
SELECT {values},
  {extra} AS _extra,
  {bad} AS _bad
FROM {cells} AS c
{joins}
"""

PARSED = """
CREATE OR REPLACE TEMP TABLE {parsed} AS
SELECT UNNEST($cells::VARCHAR[]) AS cell, UNNEST($values::{type}[]) AS value
"""

FLAG = """
UPDATE {checked}
SET _bad = TRUE
WHERE _row IN (SELECT UNNEST($rows::BIGINT[]))
"""

FLAG_DAYS = """
UPDATE {checked}
SET _bad = TRUE
WHERE "until" < "since"
"""


def read_csv(
    staging: Staging,
    raw: RawTable,
    columns: dict[str, str] | None,
    problems: list[Problem],
    max_cell: int,
    row_check: RowCheck,
) -> int | None:
    """Stage the valid rows of ``raw``'s unread CSV file; how many rows it has, or None
    when DuckDB's reader refuses the file or a cell is longer than Python's reader takes
    (read it in Python then, which says why). ``columns`` is None when the header's
    problems keep the rows from being read: the file is still read, since a record too
    long for the header is a problem of its own."""
    assert raw.csv is not None
    table = raw.table
    read, cells = q(f"read_{table.name}"), q(f"cells_{table.name}")
    if not staging.read_csv(read, raw.csv.path, raw.csv.width):
        return None
    names = [f"c{i}" for i in range(raw.csv.width)]
    try:
        lengths = ", ".join(f"max(length({c}))" for c in names)
        (longest,) = staging.execute(f"SELECT greatest({lengths}) FROM {read}")[0]
        if longest is not None and longest > max_cell:
            return None
        trimmed = ", ".join(f"{TRIMMED.format(cell=c)} AS {c}" for c in names)
        sql = CELLS.format(cells=cells, trimmed=trimmed, read=read, names=", ".join(names))
        staging.execute(sql, {"blanks": BLANKS})
    finally:
        staging.execute(f"DROP TABLE IF EXISTS {read}")
    try:
        (count,) = staging.execute(f"SELECT count(*) FROM {cells}")[0]
        if columns is not None:
            _check_cells(staging, raw, columns, cells, problems, max_cell, row_check)
        return int(count)
    finally:
        staging.execute(f"DROP TABLE IF EXISTS {cells}")


def _check_cells(
    staging: Staging,
    raw: RawTable,
    columns: dict[str, str],
    cells: str,
    problems: list[Problem],
    max_cell: int,
    row_check: RowCheck,
) -> None:
    table = raw.table
    position = {header: f"c{i}" for i, header in enumerate(raw.headers) if header}
    by_column = {name: header for header, name in columns.items()}
    types_of = {c.name: c.type for c in staged_columns(table)}
    values, joins, bad, texts = ["c._row"], [], [], []
    params: dict[str, Any] = {}
    parsed_tables = []
    for k, (name, check) in enumerate(_columns_of(table).items()):
        sql_type = types_of[name]
        params[f"d{k}"] = check.default
        default = f"CAST($d{k} AS {sql_type})"
        header = by_column.get(name)
        if header is None:
            values.append(f"{default} AS {q(name)}")
            if check.required:  # cannot happen: map_headers refuses the table
                bad.append("TRUE")
            continue
        cell = f"c.{position[header]}"
        if check.required:
            bad.append(f"{cell} IS NULL")
        if check.kind == "parsed":
            parsed = q(f"parsed_{table.name}_{k}")
            _parse_distinct(staging, check, parsed, cells, position[header], sql_type, max_cell)
            parsed_tables.append(parsed)
            joins.append(f"LEFT JOIN {parsed} AS p{k} ON p{k}.cell = {cell}")
            values.append(
                f"CASE WHEN {cell} IS NULL THEN {default} ELSE p{k}.value END AS {q(name)}"
            )
            bad.append(f"({cell} IS NOT NULL AND p{k}.value IS NULL)")
            continue
        texts.append(position[header])
        values.append(f"coalesce({cell}, {default}) AS {q(name)}")
        if check.kind == "id":
            bad.append(f"contains({cell}, '|')")
    extra_headers = list(dict.fromkeys(h for h in raw.headers if h and h not in columns))
    kept = []
    for j, header in enumerate(extra_headers):
        texts.append(position[header])
        params[f"k{j}"] = orjson.dumps(header).decode() + ":"
        cell = f"c.{position[header]}"
        kept.append(
            f"CASE WHEN {cell} IS NOT NULL THEN $k{j} || CAST(to_json({cell}) AS VARCHAR) END"
        )
    # the JSON orjson writes for the kept cells (``validate_columns``), or null for none
    extra = f"'{{' || nullif(concat_ws(',', {', '.join(kept)}), '') || '}}'" if kept else "NULL"
    checked = q(f"checked_{table.name}")
    staging.execute(
        CHECKED.format(
            checked=checked,
            values=",\n  ".join(values),
            extra=extra,
            # a null test (``contains`` of an empty cell) is no reason to refuse a row
            bad=f"coalesce({' OR '.join(bad)}, FALSE)" if bad else "FALSE",
            cells=cells,
            joins="\n".join(joins),
        ),
        params,
    )
    try:
        flagged = _unprintable(staging, cells, texts, max_cell)
        if flagged:
            staging.execute(FLAG.format(checked=checked), {"rows": sorted(flagged)})
        if issubclass(table.model, Dated):
            staging.execute(FLAG_DAYS.format(checked=checked))
        names = ", ".join(q(c.name) for c in staged_columns(table))
        staging.add_select(table, f"SELECT {names}\nFROM {checked}\nWHERE NOT _bad")
        _row_path(staging, raw, columns, cells, checked, problems, max_cell, row_check)
    finally:
        for name in [checked, *parsed_tables]:
            staging.execute(f"DROP TABLE IF EXISTS {name}")


def _parse_distinct(
    staging: Staging,
    check: _Column,
    parsed: str,
    cells: str,
    column: str,
    sql_type: str,
    max_cell: int,
) -> None:
    """A table of each distinct value of a parsed column that the model accepts, and
    the value it becomes; a refused value is left out."""
    found = staging.execute(f"SELECT DISTINCT {column} FROM {cells} WHERE {column} IS NOT NULL")
    accepted: list[str] = []
    results: list[Any] = []
    for (cell,) in found:
        if not (cell.isprintable() and len(cell) <= max_cell):
            continue  # the row path names the character
        try:
            value = _plain(check.adapter.validate_python(cell))
        except ValidationError:
            continue
        if value is not None:
            accepted.append(cell)
            results.append(value)
    sql = PARSED.format(parsed=parsed, type=sql_type)
    staging.execute(sql, {"cells": accepted, "values": results})


def _unprintable(staging: Staging, cells: str, texts: list[str], max_cell: int) -> set[int]:
    """The rows whose text cells are not short printable text, as ``_plain_text`` finds
    them: one pass over the table, and a second over a column only if it has any."""
    if not texts:
        return set()
    parts = [
        f"max(length({c})), string_agg({c}, '') FILTER (WHERE NOT regexp_full_match({c}, $ascii))"
        for c in texts
    ]
    (row,) = staging.execute(f"SELECT {', '.join(parts)} FROM {cells}", {"ascii": PRINTABLE_ASCII})
    flagged: set[int] = set()
    for i, column in enumerate(texts):
        longest, odd = row[2 * i], row[2 * i + 1]
        if (longest is None or longest <= max_cell) and (odd is None or odd.isprintable()):
            continue
        for number, cell in staging.execute(
            f"SELECT _row, {column} FROM {cells}\n"
            f"WHERE length({column}) > $max OR NOT regexp_full_match({column}, $ascii)",
            {"max": max_cell, "ascii": PRINTABLE_ASCII},
        ):
            if not (cell.isprintable() and len(cell) <= max_cell):
                flagged.add(int(number))
    return flagged


def _row_path(
    staging: Staging,
    raw: RawTable,
    columns: dict[str, str],
    cells: str,
    checked: str,
    problems: list[Problem],
    max_cell: int,
    row_check: RowCheck,
) -> None:
    """The flagged rows through the row path: their exact problems, or their values."""
    table = raw.table
    rows = staging.execute(f"""
SELECT c.*
FROM {cells} AS c
JOIN {checked} AS k ON k._row = c._row
WHERE k._bad
ORDER BY c._row
""")
    out = Columns(table, 0, values={name: [] for name in _columns_of(table)})
    for number, *record in rows:
        raw_row = RawRow(
            int(number),
            {h: v for h, v in zip(raw.headers, record, strict=True) if h and v is not None},
        )
        checked_row = row_check(table, raw_row, columns, problems, max_cell)
        if checked_row is None:
            continue
        model_row, extra = checked_row
        dumped = model_row.model_dump()
        for name, values in out.values.items():
            values.append(_plain(dumped[name]))
        out.extra.append(orjson.dumps(extra).decode() if extra else None)
        out.numbers.append(raw_row.number)
    if len(out):
        staging.add(table, out.numbers, out.values, out.extra)
