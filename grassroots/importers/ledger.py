"""Importing a ledger bundle or a dump: all or nothing.

The steps, in order, each collecting every problem rather than stopping at the first:

1. read the files into raw rows (``sources`` / ``dump``);
2. map each header to its column (English in any case, or the Chinese alias; a trailing
   ``*`` is ignored), keep unknown columns as extra properties, require required columns;
3. validate every row with its schema model;
4. check ids are unique across the bundle and agree with what is stored, that every
   ``*_id`` names a row of the right table (in the bundle or the store), that area kinds
   step down, and that neither the area tree nor the party-org tree has a cycle;
5. only if there is no problem at all, diff against the store and write the changed
   elements in one transaction. Re-importing the same bundle therefore writes nothing.
"""

from __future__ import annotations

import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grassroots.errors import LedgerError, Problem
from grassroots.graph.duck import STORED_IDS, DuckStore, Staging, link_key, q, staged_name
from grassroots.graph.store import Changes, Store, TreeEntry, checkpoint
from grassroots.graph.subtrees import ScopedStore, Subtrees, reach
from grassroots.importers.columns import read_csv, validate_columns
from grassroots.importers.dump import read_dump
from grassroots.importers.sources import (
    RawBundle,
    RawRow,
    RawTable,
    json_value,
    read_bundle,
    read_rows,
)
from grassroots.progress import Progress, silent
from grassroots.schema import BY_NAME, TABLES, AreaKind, Choice, Label, Link, Node, Row, Table
from grassroots.schema.audit import Actor, Entry, change_of
from grassroots.schema.base import describe_char
from grassroots.settings import load_settings


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class Outcome:
    """What an import did (or, for a dry run, would do), per table."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    dry_run: bool = False
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    """Per table, the headers that are no column of it, kept as properties as written."""

    @property
    def written(self) -> int:
        return sum(t.created + t.updated for t in self.tallies.values())


@dataclass
class Record:
    table: Table
    number: int
    row: Row
    element: Node | Link


def import_path(
    store: Store,
    path: Path,
    *,
    dry_run: bool = False,
    progress: Progress = silent,
    actor: Actor | None = None,
    within: Sequence[str] = (),
) -> Outcome:
    """Import ``path`` into ``store``; raise ``LedgerError`` and write nothing on any
    problem. ``actor``: who imports, for the audit log (default: this machine's user).
    ``within``: the areas of the account the import is made for, whose rows must all lie
    inside them (``import_rows``)."""
    actor = actor or Actor.local()
    importer = partial(import_rows, within=within) if within else importer_for(store)
    if path.suffix.lower() == ".jsonl":
        bundle = read_dump(path)
    else:  # a store's own path stages CSV files in SQL, unread by Python
        bundle = read_bundle(path, defer_csv=importer is not import_rows and not within)
    try:
        return importer(store, bundle, dry_run=dry_run, progress=progress, actor=actor)
    finally:
        bundle.close()


def import_bundle(
    store: Store,
    bundle: RawBundle,
    *,
    dry_run: bool = False,
    progress: Progress = silent,
    actor: Actor | None = None,
) -> Outcome:
    actor = actor or Actor.local()
    return importer_for(store)(store, bundle, dry_run=dry_run, progress=progress, actor=actor)


class Importer(typing.Protocol):
    def __call__(
        self,
        store: Store,
        bundle: RawBundle,
        *,
        dry_run: bool,
        progress: Progress,
        actor: Actor | None,
    ) -> Outcome: ...


IMPORTERS: dict[str, Importer] = {}
"""A store's own import path, keyed by ``Store.name`` as the coverage evaluators are
(``queries/coverage/engine.py``); a store with none registered takes ``import_rows``,
which any store can answer."""


def register(name: str) -> Callable[[Importer], Importer]:
    def add(importer: Importer) -> Importer:
        IMPORTERS[name] = importer
        return importer

    return add


def importer_for(store: Store) -> Importer:
    return IMPORTERS.get(store.name, import_rows)


def import_rows(
    store: Store,
    bundle: RawBundle,
    *,
    dry_run: bool = False,
    progress: Progress = silent,
    actor: Actor | None = None,
    within: Sequence[str] = (),
    action: str = "import",
) -> Outcome:
    """The row path: every row a pydantic model and a graph element (any store).

    ``actor`` (default: this machine's user) and ``action``: who writes and how, for the
    audit log's entry, which the store appends with the write (``Changes.audit``).

    ``within``: the areas of the account the import is made for. The bundle is then
    checked against only what the account sees (``ScopedStore``: a reference to a node
    outside is one to no node), and each row must land inside (``_check_within``)."""
    problems = list(bundle.problems)
    records: list[Record] = []
    extra_columns: dict[str, list[str]] = {}
    total = sum(len(raw.rows) for raw in bundle.tables)
    tick = progress("validating", total)
    max_cell = load_settings().max_cell_chars
    for raw in bundle.tables:
        records.extend(_validate_table(raw, problems, extra_columns, max_cell))
        tick(len(raw.rows))
    # The critical section: what is stored is read, checked, diffed and written with no
    # other import in between (two at once would each check against the state before).
    with nullcontext() if dry_run else store.exclusive():
        if within:
            seen = reach(store, within)
            _check_graph(ScopedStore(store, seen), records, problems)
            _check_within(store, seen, records, problems)
            if problems:
                raise LedgerError(problems)
            stored = _check_graph(store, records, problems)  # the nodes as stored, whole
        else:
            stored = _check_graph(store, records, problems)
        if problems:
            raise LedgerError(problems)
        changes, outcome = _diff(
            store, records, stored, Entry.begin(actor or Actor.local(), action)
        )
        outcome.dry_run = dry_run
        outcome.extra_columns = extra_columns
        if not dry_run and changes:
            checkpoint("checked")  # a test-only pause point
            store.write(changes, progress)
    return outcome


# -- step 2 and 3: columns and rows --------------------------------------------------------


def _column_for(table: Table, header: str) -> str | None:
    text = header.strip().rstrip("*").strip()
    for name, zh in table.columns().items():
        if text.lower() == name or (zh and text == zh):
            return name
    return None


def _one_slip(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one inserted, left out, changed or swapped character."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and (a[diff[0]], a[diff[1]]) == (b[diff[1]], b[diff[0]])
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


SHORTEST_GUESSED = 4
"""English column names shorter than this (``id``) are matched only exactly: one slip
from a two-letter name is too often another word. ``id`` is required wherever it is a
column, so a slip there is reported as a missing column anyway."""


def _near_miss(table: Table, header: str, present: set[str]) -> str | None:
    """The column ``header`` is one slip away from, among those no other header names."""
    text = header.strip().rstrip("*").strip()
    for name, zh in table.columns().items():
        if name in present:
            continue  # "name2" beside "name" is a column of its own, not a typo
        if (zh and _one_slip(text, zh)) or (
            len(name) >= SHORTEST_GUESSED and _one_slip(text.lower(), name)
        ):
            return name
    return None


_CELL_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
"""What no cell may hold: control characters other than tab and line breaks (which a
multi-line Excel cell holds), lone surrogates, and U+FFFE and U+FFFF (which no XML, so no
.xlsx report, can hold). Ids refuse more: see ``ID_REFUSED``."""

MAX_INTEGER = 2**63 - 1  # what both stores hold


def _unkeepable(value: Any) -> bool:
    """A number that neither store holds (a dump's JSON or a workbook can hold one)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) > MAX_INTEGER
    return isinstance(value, float) and not math.isfinite(value)


def _bad_text(text: str, max_cell: int) -> str | None:
    if len(text) > max_cell:
        return (
            f"longer than {max_cell:,} characters, the most a cell may hold"
            " (GRASSROOTS_MAX_CELL_CHARS); shorten it or move the text elsewhere"
        )
    if text.isprintable():  # the common case, fast: none of _CELL_REFUSED is printable
        return None
    if match := _CELL_REFUSED.search(text):
        return (
            f"contains {describe_char(match.group())} at character {match.start() + 1};"
            " delete it (Excel does not show it) and import again"
        )
    return None


def _validate_table(
    raw: RawTable, problems: list[Problem], extra_columns: dict[str, list[str]], max_cell: int
) -> list[Record]:
    columns = map_headers(raw, problems, extra_columns, max_cell)
    if columns is None:
        return []
    records = []
    for raw_row in raw.rows:
        checked = validate_row(raw.table, raw_row, columns, problems, max_cell)
        if checked is not None:
            row, extra = checked
            records.append(Record(raw.table, raw_row.number, row, raw.table.to_element(row, extra)))
    return records


def map_headers(
    raw: RawTable, problems: list[Problem], extra_columns: dict[str, list[str]], max_cell: int
) -> dict[str, str] | None:
    """Each header's column (header -> column), or None when a header problem (of this
    table, row 1) means its rows are not read at all."""
    table = raw.table
    columns: dict[str, str] = {}  # header -> column
    seen: dict[str, str] = {}
    unknown: list[str] = []
    for header in raw.headers:
        if not header:
            continue
        if message := _bad_text(header, max_cell):
            problems.append(Problem(table.name, 1, "header", message, code="file"))
            continue
        name = _column_for(table, header)
        if name is None:
            unknown.append(header)
            continue
        if name in seen:
            problems.append(
                Problem(
                    table.name,
                    1,
                    name,
                    f"two headers name this column: {seen[name]!r} and {header!r}",
                    code="file",
                )
            )
        seen[name] = header
        columns[header] = name
    extras = []
    for header in unknown:
        meant = _near_miss(table, header, set(seen))
        if meant is None:
            extras.append(header)
            continue
        zh = table.columns()[meant]
        problems.append(
            Problem(
                table.name,
                1,
                "header",
                f"{header!r} is not a column of {table.name}; did you mean"
                f" {f'{zh} ({meant})' if zh else meant}? Correct the header (an extra column"
                " is kept only when it is not one slip from a column's name)",
                code="file",
            )
        )
    if extras:
        extra_columns[table.name] = extras
    for name in table.required():
        if name not in seen:
            zh = table.columns()[name]
            problems.append(
                Problem(
                    table.name,
                    1,
                    name,
                    f"required column is missing; add a column {name} ({zh})",
                    code="missing",
                )
            )
    if any(p.table == table.name and p.row == 1 for p in problems):
        return None
    return columns


def validate_row(
    table: Table, raw_row: RawRow, columns: dict[str, str], problems: list[Problem], max_cell: int
) -> tuple[Row, dict[str, Any]] | None:
    """One row through its model: the row and its kept extra cells, or None (and its
    problems added) when it is invalid."""
    id_columns = {"id", *(ref.column for ref in table.refs)}  # checked by their model type
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    refused = False
    for header, value in raw_row.cells.items():
        if isinstance(value, str) and (message := _bad_text(value, max_cell)):
            column = columns.get(header, header)
            if column not in id_columns or message.startswith("longer"):
                problems.append(Problem(table.name, raw_row.number, column, message))
                refused = True
                continue
        if header in columns:
            known[columns[header]] = value
        elif isinstance(value, dict | list):  # only a dump can hold these
            problems.append(
                Problem(
                    table.name,
                    raw_row.number,
                    header,
                    "must be a plain value, not a list or map",
                    code="invalid",
                )
            )
        elif header:
            if _unkeepable(value):
                problems.append(
                    Problem(
                        table.name,
                        raw_row.number,
                        header,
                        f"{value!r} is a number no store can keep (beyond 64 bits or not"
                        " finite); correct it",
                    )
                )
                refused = True
                continue
            extra[header] = json_value(value)
    if refused:
        return None  # one problem per bad cell, not a second one from the model
    try:
        row = table.model.model_validate(known)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_problem(table, raw_row.number, error))
        return None
    return row, extra


def _choice_in(annotation: Any) -> type[Choice] | None:
    candidates = (
        typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, Choice):
            return candidate
    return None


def _problem(table: Table, number: int, error: Any) -> Problem:
    loc = error.get("loc") or ()
    column = str(loc[0]) if loc else "until"  # the only row-level check is since <= until
    kind = error.get("type")
    code = "invalid" if loc else "dates"
    if kind == "missing":
        message, code = "required, but empty", "missing"
    elif kind == "enum":
        info = table.model.model_fields.get(column)
        choice = _choice_in(info.annotation) if info else None
        listed = choice.choices() if choice else error["ctx"]["expected"]
        message = f"{error['input']!r} is not one of: {listed}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(table.name, number, column, message, code)


# -- step 4: the graph's invariants --------------------------------------------------------


def _check_graph(store: Store, records: list[Record], problems: list[Problem]) -> dict[str, Node]:
    """Check ids, references and trees; return the stored nodes the bundle touches."""
    owners: dict[str, Record] = {}
    for record in records:
        if isinstance(record.element, Node):
            node_id = record.element.id
            if node_id in owners:
                first = owners[node_id]
                problems.append(
                    Problem(
                        record.table.name,
                        record.number,
                        "id",
                        f"id {node_id!r} is already used by {first.table.name} row {first.number};"
                        " ids are unique across all tables",
                        code="duplicate",
                    )
                )
            else:
                owners[node_id] = record
    keys: dict[tuple[str, str], Record] = {}
    for record in records:
        if isinstance(record.element, Link):
            key = (record.element.type.value, record.element.key)
            if key in keys:
                problems.append(
                    Problem(
                        record.table.name,
                        record.number,
                        record.table.key[0],
                        f"repeats {record.table.name} row {keys[key].number}"
                        f" (same {', '.join(record.table.key)})",
                        code="duplicate",
                    )
                )
            keys[key] = record

    wanted = set(owners)
    for record in records:
        for ref in record.table.refs:
            value = getattr(record.row, ref.column)
            if value and value not in owners:
                wanted.add(value)
    stored = store.nodes(wanted)

    for node_id, record in owners.items():
        if node_id in stored and stored[node_id].label != record.table.label:
            problems.append(
                Problem(
                    record.table.name,
                    record.number,
                    "id",
                    f"id {node_id!r} is already stored as a {_noun(stored[node_id].label)};"
                    " ids are unique across all tables",
                    code="duplicate",
                )
            )

    for record in records:
        for ref in record.table.refs:
            value = getattr(record.row, ref.column)
            if not value:
                continue
            target = BY_NAME[ref.target]
            if value in owners:
                found = owners[value].table
                if found is not target:
                    problems.append(
                        Problem(
                            record.table.name,
                            record.number,
                            ref.column,
                            f"{value!r} is {found.name} row {owners[value].number},"
                            f" not a row of {target.name}",
                            code="reference",
                        )
                    )
            elif value in stored:
                if stored[value].label != target.label:
                    problems.append(
                        Problem(
                            record.table.name,
                            record.number,
                            ref.column,
                            f"{value!r} is a stored {_noun(stored[value].label)},"
                            f" not a row of {target.name}",
                            code="reference",
                        )
                    )
            else:
                problems.append(
                    Problem(
                        record.table.name,
                        record.number,
                        ref.column,
                        f"no {target.name} ({target.zh}) row has id {value!r}, in this bundle"
                        " or in the store; add it or correct the id",
                        code="reference",
                    )
                )

    for label in (Label.AREA, Label.PARTY_ORG):
        own = [r for r in records if r.table.label is label]
        if own:
            _check_tree(label, own, store.tree(label), problems)
    return stored


ANCHORS: dict[str, str] = {"areas": "parent_id", "party_orgs": "parent_id", "units": "area_id"}
"""The column that places a new row of these tables inside an account's areas (it must be
given); every other table's rows are placed by a required reference."""


def _check_within(
    store: Store, seen: Subtrees, records: list[Record], problems: list[Problem]
) -> None:
    """The rows an account bound to ``seen`` may not write, once ``_check_graph`` has
    checked the bundle against the nodes it sees:

    - a row whose id is taken outside them (it would overwrite a node the account does
      not see);
    - a row of a unit or a person the account sees only as a far end (of a pairing or a
      dispatch that lands inside): theirs to read, another district's to change;
    - a row of a node that hangs from something outside (the account's top area and top
      org: their parent lies outside), which the account could only cut loose;
    - a new area, party org or unit placed nowhere (a second city);
    - an employment at a far-end unit."""
    ids = [r.element.id for r in records if isinstance(r.element, Node)]
    stored = store.nodes(ids) if ids else {}
    yours = f"your areas ({', '.join(seen.roots)})"
    for record in records:
        for column, message, code in _outside(seen, stored, record, yours):
            problems.append(Problem(record.table.name, record.number, column, message, code=code))


def _outside(
    seen: Subtrees, stored: dict[str, Node], record: Record, yours: str
) -> Iterator[tuple[str, str, str]]:
    """Why ``record`` lies outside what ``seen`` may write, if it does: (column,
    message, problem code)."""
    element, table = record.element, record.table
    if isinstance(element, Link):
        if table.name == "employments" and seen.far_end(element.end):
            yield ("unit_id", f"unit {element.end!r} lies outside {yours}; you see it as the far"
                   " end of a pairing or a dispatch, and may not write its employments",
                   "reference")  # fmt: skip
        return
    old = stored.get(element.id)
    if old is None:
        column = ANCHORS.get(table.name)
        if column and not getattr(record.row, column, None):
            yield (column, f"you write only below {yours}: give {column}", "missing")
        return
    outside = [rel for rel, end in old.refs.items() if not seen.sees(end)]
    if not seen.sees(element.id):
        yield ("id", f"id {element.id!r} is already used, outside {yours}; ids are unique"
               " across all tables: choose another", "duplicate")  # fmt: skip
    elif seen.far_end(element.id):
        yield ("id", f"{element.id!r} lies outside {yours}; you see it as the far end of a"
               " pairing or a dispatch, and its own district changes it", "reference")  # fmt: skip
    elif outside:
        yield ("id", f"{element.id!r} hangs from {outside[0].value} outside {yours}: only an"
               " account above it may change it", "reference")  # fmt: skip


def _noun(label: Label) -> str:
    """``PartyOrg`` -> ``party org``, for messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", label.value).lower()


def _check_tree(
    label: Label, own: list[Record], stored: dict[str, TreeEntry], problems: list[Problem]
) -> None:
    from grassroots.importers import trees

    parent_column = "parent_id"
    merged = dict(stored)
    rows: dict[str, Record] = {}
    for record in own:
        assert isinstance(record.element, Node)
        node_id = record.element.id
        kind = getattr(record.row, "kind", None)
        merged[node_id] = TreeEntry(getattr(record.row, parent_column), kind)
        rows[node_id] = record
    graph = trees.parent_graph({node_id: entry.parent for node_id, entry in merged.items()})

    if label is Label.AREA:
        kinds = {n: AreaKind(e.kind) for n, e in merged.items() if e.kind is not None}
        levels = {node_id: kind.level for node_id, kind in kinds.items()}
        for node_id, parent_id in trees.out_of_order(graph, levels, rows.keys()):
            child_kind, parent_kind = kinds[node_id], kinds[parent_id]
            message = (
                f"a {child_kind.value} ({child_kind.zh}) cannot lie within"
                f" {parent_id!r}, a {parent_kind.value} ({parent_kind.zh}); a parent must be"
                " of a higher kind (city > district > subdistrict/township >"
                " community/village > grid > building)"
            )
            if node_id in rows:
                problems.append(
                    Problem("areas", rows[node_id].number, parent_column, message, "kind_order")
                )
            else:
                problems.append(
                    Problem(
                        "areas",
                        rows[parent_id].number,
                        "kind",
                        f"stored area {node_id!r} lies within this one: {message}",
                        code="kind_order",
                    )
                )

    for cycle in trees.cycles(graph, rows):
        members = [rows[n] for n in cycle if n in rows]
        first = min(members, key=lambda r: r.number)
        problems.append(
            Problem(
                first.table.name,
                first.number,
                parent_column,
                f"makes a cycle: {' → '.join(cycle)}; a {_noun(label)} cannot lie within itself",
                code="cycle",
            )
        )


# -- step 5: what changes --------------------------------------------------------------------


def _diff(
    store: Store, records: list[Record], stored: dict[str, Node], audit: Entry | None = None
) -> tuple[Changes, Outcome]:
    """What differs from the store, and the tallies; with ``audit``, the entry that keeps
    each change with its value before."""
    changes = Changes(audit=audit)
    present = {r.table.name for r in records}
    outcome = Outcome({t.name: Tally() for t in TABLES if t.name in present})
    links = [r.element for r in records if isinstance(r.element, Link)]
    stored_links = store.links([(ln.type, ln.key) for ln in links])
    for record in records:
        tally = outcome.tallies[record.table.name]
        element = record.element
        if isinstance(element, Node):
            old_node = stored.get(element.id)
            if old_node is None:
                tally.created += 1
                changes.new.add(element.id)
            elif old_node == element:
                tally.unchanged += 1
                continue
            else:
                tally.updated += 1
            changes.nodes.append(element)
            if audit is not None:
                audit.changes.append(change_of(old_node, element))
        else:
            old_link = stored_links.get((element.type, element.key))
            if old_link is None:
                tally.created += 1
                changes.new_links.add((element.type, element.key))
            elif old_link == element:
                tally.unchanged += 1
                continue
            else:
                tally.updated += 1
            changes.links.append(element)
            if audit is not None:
                audit.changes.append(change_of(old_link, element))
    return changes, outcome


# -- the columnar path: the embedded store checks, diffs and writes in SQL -----------------


@typing.runtime_checkable
class StagingStore(Store, typing.Protocol):
    """A store that stages an import in DuckDB (``Staging``): beside itself (the embedded
    store) or in a DuckDB database of the import's own, fed from the store in bulk
    (Neo4j)."""

    def stage(self) -> Staging: ...


@register("neo4j")  # by name: importing Neo4jStore would load its driver for every command
@register(DuckStore.name)
def _import_staged(
    store: Store, bundle: RawBundle, *, dry_run: bool, progress: Progress, actor: Actor | None
) -> Outcome:
    """As ``import_rows``, with the same problems and tallies, but validated by column
    (``columns``) and checked, diffed and written as set operations on staged tables:
    no row becomes a Python object unless it needs a message or is written."""
    assert isinstance(store, StagingStore)  # registered for stores that stage only
    problems = list(bundle.problems)
    extra_columns: dict[str, list[str]] = {}
    max_cell = load_settings().max_cell_chars
    tick = progress("validating", len(bundle.tables))
    staging = store.stage()
    try:
        ordinals: dict[str, int] = {}
        for ordinal, raw in enumerate(bundle.tables):
            columns = map_headers(raw, problems, extra_columns, max_cell)
            if raw.csv is not None:
                read = read_csv(staging, raw, columns, problems, max_cell, validate_row)
                if read is None:  # DuckDB's reader refused it: Python's says why
                    again = read_rows(raw)
                    problems.extend(again.problems)
                    raw = again.tables[0] if again.tables else RawTable(raw.table, raw.source, [])
            if raw.csv is None and columns is not None:
                valid = validate_columns(raw, columns, ordinal, problems, max_cell, validate_row)
                if len(valid):
                    staging.add(raw.table, valid.numbers, valid.values, valid.extra)
            if any(t.table is raw.table and t.rows for t in staging.tables):
                ordinals[raw.table.name] = ordinal
            tick(1)
        with nullcontext() if dry_run else store.exclusive():
            staging.read_store()
            _check_staged(staging, ordinals, problems)
            if problems:
                raise LedgerError(problems)
            tallies = staging.diff()
            outcome = Outcome(
                {t.name: Tally(*tallies[t.name]) for t in TABLES if t.name in tallies},
                dry_run=dry_run,
                extra_columns=extra_columns,
            )
            if not dry_run and (outcome.written or staging.rehash):
                checkpoint("checked")  # a test-only pause point
                staging.write(progress, Entry.begin(actor or Actor.local(), "import"))
        return outcome
    finally:
        staging.close()


OWNERS = "owners"
UNMATCHED_REFS = "unmatched_refs"

ALL_IDS = """
CREATE OR REPLACE TEMP TABLE all_ids AS
{parts}
"""

DUPLICATE_IDS = """
SELECT tbl, _row, id, first_tbl, first_row
FROM (
  SELECT *,
    first_value(tbl) OVER w AS first_tbl,
    first_value(_row) OVER w AS first_row,
    row_number() OVER w AS k
  FROM all_ids
  WINDOW w AS (PARTITION BY id ORDER BY ord, _row)
)
WHERE k > 1
"""

FIRST_OWNERS = f"""
CREATE OR REPLACE TEMP TABLE {OWNERS} AS
SELECT id, arg_min(tbl, (ord, _row)) AS tbl, min_by(_row, (ord, _row)) AS _row,
  arg_min(label, (ord, _row)) AS label
FROM all_ids
GROUP BY id
"""

STORED_ELSEWHERE = f"""
SELECT o.tbl, o._row, o.id, st.label
FROM {OWNERS} AS o
JOIN {STORED_IDS} AS st ON st.id = o.id
WHERE st.label <> o.label
"""

REPEATED_KEYS = """
SELECT _row, previous
FROM (
  SELECT s._row, lag(s._row) OVER (PARTITION BY {key} ORDER BY s._row) AS previous
  FROM {staged} AS s
)
WHERE previous IS NOT NULL
"""

UNMATCHED = f"""
CREATE OR REPLACE TEMP TABLE {UNMATCHED_REFS} AS
SELECT s._row, s.{{column}} AS value
FROM {{staged}} AS s
ANTI JOIN (SELECT id FROM {OWNERS} WHERE tbl = $target) AS t ON t.id = s.{{column}}
WHERE s.{{column}} IS NOT NULL
  AND s.{{column}} <> ''
"""
"""The rows whose reference names no row of the target table in the bundle: usually
none, so BAD_REFERENCES, which needs every id of the bundle and of the store at hand,
runs only when there are some (DuckDB answers a CREATE ... AS with its row count)."""

BAD_REFERENCES = f"""
SELECT u._row, u.value, o.tbl, o._row, CASE WHEN o.id IS NULL THEN st.label END
FROM (
  SELECT u._row, u.value
  FROM {UNMATCHED_REFS} AS u
  WHERE u.value IN (SELECT id FROM {OWNERS})
     OR u.value NOT IN (SELECT id FROM {{stored}})
) AS u
LEFT JOIN {OWNERS} AS o ON o.id = u.value
LEFT JOIN {STORED_IDS} AS st ON st.id = u.value
"""
"""Of the unmatched references, those that, if no row of the bundle has that id, name no
stored node of the target's label either; the joins that word the message are made for
those rows only."""

REPEATS = """
SELECT count(*)
FROM (
  SELECT 1
  FROM {staged} AS s
  GROUP BY {columns}
  HAVING count(*) > 1
)
"""
"""Whether any link repeats its key, asked first because it is cheaper than naming the
repeats (REPEATED_KEYS): grouping the key columns is grouping the keys, since no id
holds ``|`` and an empty day is the only empty part."""

REPEATED_IDS = """
SELECT count(*)
FROM (
  SELECT 1
  FROM all_ids
  GROUP BY id
  HAVING count(*) > 1
)
"""

OWNERS_UNIQUE = f"""
CREATE OR REPLACE TEMP TABLE {OWNERS} AS
SELECT id, tbl, _row, label
FROM all_ids
"""
"""FIRST_OWNERS when no id repeats: every id is its own first owner."""

TREE_ROWS = """
SELECT s._row, s.id, s.parent_id{kind}
FROM {staged} AS s
ORDER BY s._row
"""


def _check_staged(staging: Staging, ordinals: dict[str, int], problems: list[Problem]) -> None:
    """``_check_graph``'s checks, with its messages, as joins over the staged tables."""
    nodes = [t for t in TABLES if t.is_node and t.name in ordinals]
    parts = [
        f"SELECT s.id, '{t.name}' AS tbl, {ordinals[t.name]} AS ord, s._row,"
        f" '{t.label}' AS label FROM {staged_name(t)} AS s"
        for t in nodes
    ] or ["SELECT NULL::VARCHAR AS id, '' AS tbl, 0 AS ord, 0 AS _row, '' AS label WHERE FALSE"]
    staging.execute(ALL_IDS.format(parts="\nUNION ALL\n".join(parts)))
    repeated = staging.execute(REPEATED_IDS)[0][0]
    for name, number, node_id, first_name, first_number in (
        staging.execute(DUPLICATE_IDS) if repeated else []
    ):
        problems.append(
            Problem(
                name,
                number,
                "id",
                f"id {node_id!r} is already used by {first_name} row {first_number};"
                " ids are unique across all tables",
                code="duplicate",
            )
        )
    staging.execute(FIRST_OWNERS if repeated else OWNERS_UNIQUE)
    for name, number, node_id, label in staging.execute(STORED_ELSEWHERE):
        problems.append(
            Problem(
                name,
                number,
                "id",
                f"id {node_id!r} is already stored as a {_noun(Label(label))};"
                " ids are unique across all tables",
                code="duplicate",
            )
        )
    for table in TABLES:
        if table.name not in ordinals:
            continue
        if not table.is_node:
            key = ", ".join(f"s.{q(c)}" for c in table.key)
            repeats = staging.execute(REPEATS.format(staged=staged_name(table), columns=key))
            sql = REPEATED_KEYS.format(key=link_key(table, "s"), staged=staged_name(table))
            for number, previous in staging.execute(sql) if repeats[0][0] else []:
                problems.append(
                    Problem(
                        table.name,
                        number,
                        table.key[0],
                        f"repeats {table.name} row {previous} (same {', '.join(table.key)})",
                        code="duplicate",
                    )
                )
        for ref in table.refs:
            target = BY_NAME[ref.target]
            assert target.label is not None  # references name node tables
            sql = UNMATCHED.format(column=q(ref.column), staged=staged_name(table))
            ((unmatched,),) = staging.execute(sql, {"target": target.name})
            sql = BAD_REFERENCES.format(stored=f"main.{q(target.label.value)}")
            for number, value, found, found_number, label in (
                staging.execute(sql) if unmatched else []
            ):
                if found is not None:
                    message = f"{value!r} is {found} row {found_number}, not a row of {target.name}"
                elif label is not None:
                    message = (
                        f"{value!r} is a stored {_noun(Label(label))}, not a row of {target.name}"
                    )
                else:
                    message = (
                        f"no {target.name} ({target.zh}) row has id {value!r}, in this bundle"
                        " or in the store; add it or correct the id"
                    )
                problems.append(Problem(table.name, number, ref.column, message, "reference"))
    for table in nodes:
        if table.label in (Label.AREA, Label.PARTY_ORG) and _tree_in_doubt(staging, table):
            kind = ", s.kind" if table.label is Label.AREA else ""
            rows = staging.execute(TREE_ROWS.format(kind=kind, staged=staged_name(table)))
            own = [_tree_record(table, row) for row in rows]
            stored = {
                node_id: TreeEntry(parent, kind)
                for node_id, parent, kind in staging.execute(staging.stored_tree(table.label))
            }
            _check_tree(table.label, own, stored, problems)


MERGED_TREE = """
CREATE OR REPLACE TEMP TABLE merged_tree AS
SELECT s.id, s.parent_id AS parent, {kind} AS kind, TRUE AS own
FROM {staged} AS s
UNION ALL
SELECT t.id, t.parent, t.kind, FALSE AS own
FROM ({stored}) AS t
ANTI JOIN {staged} AS s ON s.id = t.id
"""

ROOTED = """
CREATE OR REPLACE TEMP TABLE rooted AS
WITH RECURSIVE down(id) AS (
  SELECT m.id
  FROM merged_tree AS m
  WHERE m.parent IS NULL
     OR m.parent NOT IN (SELECT id FROM merged_tree)
  UNION ALL
  SELECT m.id
  FROM merged_tree AS m
  JOIN down AS d ON m.parent = d.id
)
SELECT id FROM down
"""

TREE_DOUBTS = """
SELECT
  (SELECT count(*) - count(DISTINCT id) FROM {staged}),
  (SELECT count(*)
   FROM merged_tree AS c
   JOIN merged_tree AS p ON p.id = c.parent
   JOIN ({levels}) AS lc ON lc.kind = c.kind
   JOIN ({levels}) AS lp ON lp.kind = p.kind
   WHERE (c.own OR p.own)
     AND lp.level >= lc.level),
  (SELECT count(*)
   FROM merged_tree AS m
   WHERE m.own
     AND m.id NOT IN (SELECT id FROM rooted))
"""
"""Repeated ids, a parent of a kind not higher than its child's, and rows that no root
reaches (they lie on or under a cycle): when all three are none, ``_check_tree`` finds
nothing, and the tree need not come into Python at all."""


def _tree_in_doubt(staging: Staging, table: Table) -> bool:
    """Whether ``_check_tree`` may find a problem in this staged tree (merged with the
    stored one); it alone words them, so it runs whenever the answer is yes."""
    assert table.label is not None
    staged = staged_name(table)
    kind = "s.kind" if table.label is Label.AREA else "CAST(NULL AS VARCHAR)"
    stored = staging.stored_tree(table.label)
    levels = "SELECT * FROM (VALUES {}) AS v(kind, level)".format(
        ", ".join(f"('{k.value}', {k.level})" for k in AreaKind)
    )
    staging.execute(MERGED_TREE.format(kind=kind, staged=staged, stored=stored))
    staging.execute(ROOTED)
    (doubts,) = staging.execute(TREE_DOUBTS.format(staged=staged, levels=levels))
    return any(doubts)


def _tree_record(table: Table, row: tuple[Any, ...]) -> Record:
    """What ``_check_tree`` reads of a staged area or party org: row, id, parent, kind."""
    number, node_id, parent = row[0], row[1], row[2]
    values: dict[str, Any] = {"id": node_id, "parent_id": parent}
    if len(row) > 3:
        values["kind"] = AreaKind(row[3])
    assert table.label is not None
    # not the model itself: building one per row (model_construct fills every default)
    # costs more than the whole tree check; _check_tree reads these attributes only
    fields = typing.cast(Row, types.SimpleNamespace(**values))
    return Record(table, number, fields, Node(table.label, {"id": node_id}))
