"""Reading a bundle into raw rows: a folder of CSV files, one ``.xlsx`` workbook, or one
CSV file named after its table. Nothing is validated here beyond telling which table a
file or sheet is; cells come back as written (text from CSV, typed values from Excel).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from grassroots.errors import GrassrootsError, Problem
from grassroots.schema import TABLES, Table, table_named

KNOWN = ", ".join(f"{t.name} ({t.zh})" for t in TABLES)


@dataclass
class RawRow:
    number: int  # as a spreadsheet counts: the header is row 1
    cells: dict[str, Any]


@dataclass
class RawTable:
    table: Table
    source: str  # the file or sheet it came from, for messages
    headers: list[str]
    rows: list[RawRow] = field(default_factory=list)


@dataclass
class RawBundle:
    tables: list[RawTable] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_bundle(path: Path) -> RawBundle:
    if not path.exists():
        raise GrassrootsError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_folder(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_workbook(path)
    if suffix == ".csv":
        bundle = RawBundle()
        _read_csv(path, bundle)
        return bundle
    raise GrassrootsError(
        f"{path}: cannot import this; give a folder of CSV files, an .xlsx workbook"
        " or a .jsonl dump"
    )


def _unknown(name: str, what: str) -> Problem:
    return Problem(name, 1, what, f"unknown table {name!r}; name it one of: {KNOWN}", "file")


def _read_folder(folder: Path) -> RawBundle:
    bundle = RawBundle()
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv")
    if not files:
        raise GrassrootsError(f"{folder}: no .csv files here; name them after tables ({KNOWN})")
    for path in files:
        _read_csv(path, bundle)
    return bundle


def _decode(data: bytes) -> str | None:
    # UTF-8 first (with or without BOM): GBK bytes almost never decode as UTF-8, while
    # UTF-8 Chinese text often decodes as GBK garbage. GB18030 is GBK's superset.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _read_csv(path: Path, bundle: RawBundle) -> None:
    table = table_named(path.stem)
    if table is None:
        bundle.problems.append(_unknown(path.stem, "file"))
        return
    text = _decode(path.read_bytes())
    if text is None:
        bundle.problems.append(
            Problem(
                table.name,
                1,
                "file",
                f"{path.name} is neither UTF-8 nor GBK text; save it from Excel as"
                " 'CSV UTF-8' (or 'CSV') and import again",
            )
        )
        return
    records = list(csv.reader(io.StringIO(text)))
    _collect(table, path.name, records, bundle)


def _read_workbook(path: Path) -> RawBundle:
    from openpyxl import load_workbook  # imported here: only workbooks need it

    bundle = RawBundle()
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise GrassrootsError(
            f"{path}: cannot open this workbook ({exc.__class__.__name__}); save it again"
            " from Excel as .xlsx"
        ) from None
    try:
        for sheet in book.worksheets:
            table = table_named(sheet.title)
            if table is None:
                bundle.problems.append(_unknown(sheet.title, "sheet"))
                continue
            records = [list(values) for values in sheet.iter_rows(values_only=True)]
            _collect(table, f"{path.name}[{sheet.title}]", records, bundle)
    finally:
        book.close()
    return bundle


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header(value: Any) -> str:
    return "" if value is None else str(value).strip().lstrip("\ufeff")


def _collect(table: Table, source: str, records: list[list[Any]], bundle: RawBundle) -> None:
    if not records:
        bundle.problems.append(
            Problem(table.name, 1, "file", f"{source} is empty; add a header row")
        )
        return
    headers = [_header(h) for h in records[0]]
    raw = RawTable(table, source, headers)
    for number, record in enumerate(records[1:], start=2):
        if all(_blank(v) for v in record):
            continue  # spreadsheets leave blank rows at the end
        cells: dict[str, Any] = {}
        for header, value in zip(headers, record, strict=False):
            if header and not _blank(value):
                cells[header] = value.strip() if isinstance(value, str) else _plain(value)
        if len(record) > len(headers) and any(not _blank(v) for v in record[len(headers) :]):
            bundle.problems.append(
                Problem(
                    table.name,
                    number,
                    "file",
                    "this row has more cells than the header has columns",
                )
            )
        raw.rows.append(RawRow(number, cells))
    _check_duplicate_tables(raw, bundle)
    bundle.tables.append(raw)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date()
    return value


def _check_duplicate_tables(raw: RawTable, bundle: RawBundle) -> None:
    for other in bundle.tables:
        if other.table is raw.table:
            bundle.problems.append(
                Problem(
                    raw.table.name,
                    1,
                    "file",
                    f"{raw.source} and {other.source} are both the {raw.table.name} table;"
                    " keep one",
                )
            )


def json_value(value: Any) -> Any:
    """A cell as a JSON property: days become ISO text, the rest stays as typed."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value
