"""Reading a bundle into raw rows: a folder of CSV files, one ``.xlsx`` workbook, or one
CSV file named after its table. Nothing is validated here beyond telling which table a
file or sheet is; cells come back as written (text from CSV, typed values from Excel).

For an import that reads CSV in SQL (``read_bundle(..., defer_csv=True)``) a CSV file's
rows are not read here at all: its table keeps the header and a ``CsvFile`` that DuckDB's
reader reads (``importers.columns.read_csv``), provided that reader sees the very records
Python's ``csv`` module sees, so that row numbers and problems come out the same. A file
where it might not (a blank line, a lone carriage return, an unbalanced quote, blanks
beside a quote, a repeated header) is read here as before.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from grassroots.errors import GrassrootsError, Problem
from grassroots.schema import TABLES, Table, table_named
from grassroots.settings import load_settings

KNOWN = ", ".join(f"{t.name} ({t.zh})" for t in TABLES)


@dataclass
class RawRow:
    number: int  # as a spreadsheet counts: the header is row 1
    cells: dict[str, Any]


@dataclass(frozen=True)
class CsvFile:
    """A CSV file whose records (the header is record 1) are a table's rows, left unread
    for SQL: ``path`` is UTF-8 text (the file itself, or a GBK file's decoded copy),
    ``original`` the file as given, to read it in Python should DuckDB refuse it."""

    path: Path
    original: Path
    width: int  # cells in the header record


@dataclass
class RawTable:
    table: Table
    source: str  # the file or sheet it came from, for messages
    headers: list[str]
    rows: list[RawRow] = field(default_factory=list)
    csv: CsvFile | None = None  # rows left unread, for SQL to read


@dataclass
class RawBundle:
    tables: list[RawTable] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    scratch: Path | None = None  # a folder for decoded copies of GBK files

    def close(self) -> None:
        """Delete the decoded copies, if any."""
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def read_bundle(path: Path, *, defer_csv: bool = False) -> RawBundle:
    """The bundle at ``path``; with ``defer_csv``, CSV files that SQL can read are left
    unread (``RawTable.csv``), and the caller closes the bundle."""
    if not path.exists():
        raise GrassrootsError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_folder(path, defer_csv)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_workbook(path)
    if suffix == ".csv":
        bundle = RawBundle()
        _read_csv(path, bundle, defer_csv)
        return bundle
    raise GrassrootsError(
        f"{path}: cannot import this; give a folder of CSV files, an .xlsx workbook"
        " or a .jsonl dump"
    )


def _unknown(name: str, what: str) -> Problem:
    return Problem(name, 1, what, f"unknown table {name!r}; name it one of: {KNOWN}", "file")


def _read_folder(folder: Path, defer_csv: bool) -> RawBundle:
    bundle = RawBundle()
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv")
    if not files:
        raise GrassrootsError(f"{folder}: no .csv files here; name them after tables ({KNOWN})")
    for path in files:
        _read_csv(path, bundle, defer_csv)
    return bundle


BOM = b"\xef\xbb\xbf"
_CJK = re.compile("[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _line_encoding(line: bytes) -> str | None:
    """``utf-8``, ``gbk`` or None for one line that is not plain ASCII.

    GBK bytes seldom decode as UTF-8, and when they do the text is accented Latin or
    Cyrillic, not Chinese; so a line is UTF-8 when it decodes as UTF-8 and either holds a
    Chinese character or is no GBK at all. GB18030 is GBK's superset."""
    try:
        utf8 = line.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    try:
        line.decode("gb18030")
        gbk = True
    except UnicodeDecodeError:
        gbk = False
    if utf8 is not None and (not gbk or _CJK.search(utf8)):
        return "utf-8"
    return "gbk" if gbk else None


def _record_at(text_before: str) -> int:
    """The row number, as a spreadsheet counts, of the record that starts after this text."""
    return sum(1 for _ in csv.reader(io.StringIO(text_before))) + 1


@dataclass(frozen=True)
class Decoded:
    text: str
    utf8: bool  # the file's bytes are this text in UTF-8 (after any byte-order mark)


def _decode(name: str, data: bytes) -> Decoded | tuple[int, str]:
    """The file's text, or (row, message) saying why it cannot be read.

    The whole file must be one encoding: UTF-8 (with or without a byte-order mark) or GBK.
    A file mixing them (rows pasted in from another file) is refused at the first row
    that differs, rather than read as garbled text."""
    throughout = "save it as UTF-8 (or as GBK) throughout and import again"
    if data.startswith(BOM):
        try:
            return Decoded(data[len(BOM) :].decode("utf-8"), utf8=True)
        except UnicodeDecodeError as exc:
            body = data[len(BOM) :]
            start = body.rfind(b"\n", 0, exc.start) + 1
            row = _record_at(body[:start].decode("utf-8"))
            return row, (
                f"{name} starts with a UTF-8 byte-order mark, but row {row} is not UTF-8"
                f" (GBK, perhaps); {throughout} (Excel: 'CSV UTF-8')"
            )
    try:
        return Decoded(data.decode("utf-8"), utf8=True)
    except UnicodeDecodeError:
        pass
    first: tuple[int, str] | None = None  # the first line that is not ASCII, and its encoding
    start = 0
    for line in data.split(b"\n"):
        if not line.isascii():
            encoding = _line_encoding(line)
            before = data[:start]
            if encoding is None:
                row = _record_at(before.decode(_CODECS[first[1]] if first else "ascii"))
                return row, (
                    f"{name} is neither UTF-8 nor GBK text at row {row}; save it from Excel as"
                    " 'CSV UTF-8' (or 'CSV') and import again"
                )
            if first is None:
                first = (_record_at(before.decode("ascii")), encoding)
            elif encoding != first[1]:
                row = _record_at(before.decode(_CODECS[first[1]]))
                return row, (
                    f"{name} mixes encodings: row {row} is {_NAMES[encoding]} but row"
                    f" {first[0]} is {_NAMES[first[1]]}; {throughout}"
                )
        start += len(line) + 1
    return Decoded(data.decode("gb18030"), utf8=False)


_NAMES = {"utf-8": "UTF-8", "gbk": "GBK"}
_CODECS = {"utf-8": "utf-8", "gbk": "gb18030"}


def _read_csv(path: Path, bundle: RawBundle, defer: bool = False) -> None:
    table = table_named(path.stem)
    if table is None:
        bundle.problems.append(_unknown(path.stem, "file"))
        return
    data = path.read_bytes()
    decoded = _decode(path.name, data)
    if isinstance(decoded, tuple):
        row, message = decoded
        bundle.problems.append(Problem(table.name, row, "file", message))
        return
    text = decoded.text
    limit = load_settings().max_cell_chars
    csv.field_size_limit(limit)  # the csv module's own default is 131,072
    if defer and _defer(table, path, data, decoded, bundle):
        return
    records: list[list[Any]] = []
    try:
        records.extend(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        number = len(records) + 1  # the records before it were read
        message = (
            f"a cell is longer than {limit:,} characters, the most a cell may hold"
            " (GRASSROOTS_MAX_CELL_CHARS); shorten it or move the text elsewhere"
            if "field larger" in str(exc)
            else f"cannot be read as CSV ({exc}); save the file from Excel again"
        )
        bundle.problems.append(Problem(table.name, number, "file", message))
    _collect(table, path.name, records, bundle)


def read_rows(raw: RawTable) -> RawBundle:
    """A deferred table's file read in Python after all: the table, with its rows, and
    the problems reading it found."""
    assert raw.csv is not None
    bundle = RawBundle()
    _read_csv(raw.csv.original, bundle)
    return bundle


_BLANKS_BESIDE_QUOTES = (b' "', b'" ', b'\t"', b'"\t')


def _records_alike(content: bytes) -> bool:
    """Whether DuckDB's CSV reader finds the records Python's finds in ``content`` (UTF-8),
    one for one: DuckDB skips blank lines (Python counts them as rows), reads a lone
    carriage return as a line break (Python refuses it), drops an unterminated quoted
    cell at the end (Python keeps it), and takes blanks before a quote off (Python keeps
    them). Asked of the bytes: in UTF-8 no byte of a longer character is ASCII."""
    if b"\r" in content and content.count(b"\r") != content.count(b"\r\n"):
        return False
    if content.startswith((b"\n", b"\r\n")) or b"\n\n" in content or b"\n\r\n" in content:
        return False
    if content.count(b'"') % 2:
        return False
    return not any(blanks in content for blanks in _BLANKS_BESIDE_QUOTES)


def _defer(table: Table, path: Path, data: bytes, decoded: Decoded, bundle: RawBundle) -> bool:
    """Leave the file for SQL to read (``RawTable.csv``) when that reads what Python
    would; the header is read here, as ``_collect`` reads it."""
    text = decoded.text
    body = data.removeprefix(BOM) if decoded.utf8 else text.encode("utf-8")
    if not _records_alike(body):
        return False
    line = text[: text.find("\n") + 1] or text
    try:  # the first line, unless a quoted header cell holds a line break
        first = next(csv.reader(io.StringIO(line if line.count('"') % 2 == 0 else text)), None)
    except csv.Error:
        return False
    if not first:
        return False
    headers = [_header(h) for h in first]
    named = [h for h in headers if h]
    if len(set(named)) != len(named):
        return False  # a repeated header: Python's last non-blank cell wins, per row
    if decoded.utf8:
        readable = path
    else:  # DuckDB reads UTF-8 only: a decoded copy, line breaks as they are
        if bundle.scratch is None:
            bundle.scratch = Path(tempfile.mkdtemp(prefix="grassroots-import-"))
        readable = bundle.scratch / f"{len(bundle.tables)}-{path.name}"
        readable.write_text(text, encoding="utf-8", newline="")
    raw = RawTable(table, path.name, headers, csv=CsvFile(readable, path, len(first)))
    _check_duplicate_tables(raw, bundle)
    bundle.tables.append(raw)
    return True


def _read_workbook(path: Path) -> RawBundle:
    from openpyxl import load_workbook  # imported here: only workbooks need it

    settings = load_settings()
    bundle = RawBundle()
    try:
        with zipfile.ZipFile(path) as archive:
            # zipfile never unpacks more than a member's stated size, so this sum bounds
            # what openpyxl can read
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise GrassrootsError(
            f"{path}: cannot open this workbook ({exc.__class__.__name__}); save it again"
            " from Excel as .xlsx"
        ) from None
    limit = settings.max_xlsx_mb * 2**20
    if unpacked > limit:
        bundle.problems.append(
            Problem(
                path.name,
                1,
                "file",
                f"this workbook unpacks to {unpacked / 2**20:,.1f} MB, over the limit of"
                f" {settings.max_xlsx_mb:g} MB (GRASSROOTS_MAX_XLSX_MB); import a ledger this"
                " large as a folder of CSV files, or raise the limit",
            )
        )
        return bundle
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise GrassrootsError(
            f"{path}: cannot open this workbook ({exc.__class__.__name__}); save it again"
            " from Excel as .xlsx"
        ) from None
    rows = 0
    try:
        for sheet in book.worksheets:
            table = table_named(sheet.title)
            if table is None:
                bundle.problems.append(_unknown(sheet.title, "sheet"))
                continue
            records: list[list[Any]] = []
            for values in sheet.iter_rows(values_only=True):
                rows += 1
                if rows > settings.max_xlsx_rows:
                    bundle.problems.append(
                        Problem(
                            path.name,
                            1,
                            "file",
                            f"this workbook has more than {settings.max_xlsx_rows:,} rows"
                            " (GRASSROOTS_MAX_XLSX_ROWS); import a ledger this large as a"
                            " folder of CSV files, or raise the limit",
                        )
                    )
                    return bundle
                records.append(list(values))
            _collect(table, f"{path.name}[{sheet.title}]", records, bundle)
    except GrassrootsError:
        raise
    except Exception as exc:  # a sheet's XML can be damaged where the zip is not
        raise GrassrootsError(
            f"{path}: cannot read this workbook ({exc.__class__.__name__}); save it again"
            " from Excel as .xlsx"
        ) from None
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
