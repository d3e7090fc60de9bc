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

import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from grassroots.errors import LedgerError, Problem
from grassroots.graph.store import Changes, Store, TreeEntry
from grassroots.importers.dump import read_dump
from grassroots.importers.sources import RawBundle, RawTable, json_value, read_bundle
from grassroots.progress import Progress, silent
from grassroots.schema import BY_NAME, TABLES, AreaKind, Choice, Label, Link, Node, Row, Table


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
    store: Store, path: Path, *, dry_run: bool = False, progress: Progress = silent
) -> Outcome:
    """Import ``path`` into ``store``; raise ``LedgerError`` and write nothing on any problem."""
    bundle = read_dump(path) if path.suffix.lower() == ".jsonl" else read_bundle(path)
    return import_bundle(store, bundle, dry_run=dry_run, progress=progress)


def import_bundle(
    store: Store, bundle: RawBundle, *, dry_run: bool = False, progress: Progress = silent
) -> Outcome:
    problems = list(bundle.problems)
    records: list[Record] = []
    total = sum(len(raw.rows) for raw in bundle.tables)
    tick = progress("validating", total)
    for raw in bundle.tables:
        records.extend(_validate_table(raw, problems))
        tick(len(raw.rows))
    stored = _check_graph(store, records, problems)
    if problems:
        raise LedgerError(problems)
    changes, outcome = _diff(store, records, stored)
    outcome.dry_run = dry_run
    if not dry_run and changes:
        store.write(changes, progress)
    return outcome


# -- step 2 and 3: columns and rows --------------------------------------------------------


def _column_for(table: Table, header: str) -> str | None:
    text = header.strip().rstrip("*").strip()
    for name, zh in table.columns().items():
        if text.lower() == name or (zh and text == zh):
            return name
    return None


def _validate_table(raw: RawTable, problems: list[Problem]) -> list[Record]:
    table = raw.table
    columns: dict[str, str] = {}  # header -> column
    seen: dict[str, str] = {}
    for header in raw.headers:
        if not header:
            continue
        name = _column_for(table, header)
        if name is None:
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
        return []
    records = []
    for raw_row in raw.rows:
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for header, value in raw_row.cells.items():
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
                extra[header] = json_value(value)
        try:
            row = table.model.model_validate(known)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(_problem(table, raw_row.number, error))
            continue
        records.append(Record(table, raw_row.number, row, table.to_element(row, extra)))
    return records


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


def _noun(label: Label) -> str:
    """``PartyOrg`` -> ``party org``, for messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", label.value).lower()


def _check_tree(
    label: Label, own: list[Record], stored: dict[str, TreeEntry], problems: list[Problem]
) -> None:
    parent_column = "parent_id"
    merged = dict(stored)
    rows: dict[str, Record] = {}
    for record in own:
        assert isinstance(record.element, Node)
        node_id = record.element.id
        kind = getattr(record.row, "kind", None)
        merged[node_id] = TreeEntry(getattr(record.row, parent_column), kind)
        rows[node_id] = record

    if label is Label.AREA:
        for node_id, entry in merged.items():
            if not entry.parent or entry.parent not in merged:
                continue
            if node_id not in rows and entry.parent not in rows:
                continue
            parent = merged[entry.parent]
            if parent.kind is None or entry.kind is None:
                continue
            child_kind, parent_kind = AreaKind(entry.kind), AreaKind(parent.kind)
            if parent_kind.level < child_kind.level:
                continue
            message = (
                f"a {child_kind.value} ({child_kind.zh}) cannot lie within"
                f" {entry.parent!r}, a {parent_kind.value} ({parent_kind.zh}); a parent must be"
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
                        rows[entry.parent].number,
                        "kind",
                        f"stored area {node_id!r} lies within this one: {message}",
                        code="kind_order",
                    )
                )

    done: set[str] = set()
    for start in rows:
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_path:
                cycle = [*path[path.index(node) :], node]
                members = [rows[n] for n in cycle if n in rows]
                first = min(members, key=lambda r: r.number)
                problems.append(
                    Problem(
                        first.table.name,
                        first.number,
                        parent_column,
                        f"makes a cycle: {' → '.join(cycle)}; a {_noun(label)} cannot lie"
                        " within itself",
                        code="cycle",
                    )
                )
                break
            on_path.add(node)
            path.append(node)
            above = merged.get(node)
            node = above.parent if above else None
        done.update(path)


# -- step 5: what changes --------------------------------------------------------------------


def _diff(store: Store, records: list[Record], stored: dict[str, Node]) -> tuple[Changes, Outcome]:
    changes = Changes()
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
    return changes, outcome
