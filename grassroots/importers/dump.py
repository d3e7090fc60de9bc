"""The whole graph as JSON lines, in the line shape of APOC's JSON export, so dumps move
to and from Neo4j tools::

    {"type": "node", "id": "A1", "labels": ["Area"], "properties": {"id": "A1", ...}}
    {"type": "relationship", "id": "WITHIN:A2", "label": "WITHIN",
     "start": {"id": "A2", "labels": ["Area"]}, "end": {"id": "A1", "labels": ["Area"]},
     "properties": {}}

Node ids are our own ``id`` property (APOC's are internal numbers, which mean nothing to
another database). Reading a dump turns it back into ledger rows, so a dump is validated
exactly like a ledger bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grassroots.errors import GrassrootsError, Problem
from grassroots.graph.store import Store
from grassroots.importers.sources import RawBundle, RawRow, RawTable
from grassroots.schema import BY_LABEL, BY_LINK, BY_NAME, Label, Link, Node, RelType
from grassroots.schema.person import PERSONAL

Tick = Callable[[int], None]


PERSONAL_FIELDS = tuple(sorted(PERSONAL))
"""The fields of a person that a dump holds in full and the API hides without the
``personal`` grant (``grassroots.schema.person.PERSONAL``)."""


@dataclass(frozen=True)
class DumpSummary:
    lines: int
    personal: int
    """People with any of ``PERSONAL_FIELDS``: written in full, or (``personal=False``)
    left out."""


def write_dump(
    store: Store, path: Path, tick: Tick | None = None, *, personal: bool = True
) -> DumpSummary:
    """Write every element of ``store`` to ``path`` (atomically).

    ``personal=False`` leaves ``PERSONAL_FIELDS`` out: such a dump is no full backup, since
    importing it clears those fields of the people it holds."""
    labels: dict[str, str] = {}
    tmp = path.with_name(path.name + ".partial")
    lines = people = 0
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for element in store.elements():
                if isinstance(element, Node) and element.label is Label.PERSON:
                    kept = {k: v for k, v in element.props.items() if k not in PERSONAL_FIELDS}
                    if len(kept) < len(element.props):
                        people += 1
                        if not personal:
                            element = Node(element.label, kept, element.refs)
                for line in _lines(element, labels):
                    out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                    lines += 1
                if tick:
                    tick(1)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written dump is left beside the target
        raise
    return DumpSummary(lines, people)


def _end(node_id: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"id": node_id, "labels": [labels[node_id]] if node_id in labels else []}


def _lines(element: Node | Link, labels: dict[str, str]) -> list[dict[str, Any]]:
    if isinstance(element, Node):
        labels[element.id] = element.label.value
        out: list[dict[str, Any]] = [
            {
                "type": "node",
                "id": element.id,
                "labels": [element.label.value],
                "properties": element.props,
            }
        ]
        # references go out after their node; the reader attaches them to it again
        for rel, end in sorted(element.refs.items()):
            out.append(
                {
                    "type": "relationship",
                    "id": f"{rel.value}:{element.id}",
                    "label": rel.value,
                    "start": _end(element.id, labels),
                    "end": {"id": end, "labels": []},
                    "properties": {},
                }
            )
        return out
    return [
        {
            "type": "relationship",
            "id": f"{element.type.value}:{element.key}",
            "label": element.type.value,
            "start": _end(element.start, labels),
            "end": _end(element.end, labels),
            "properties": element.props,
        }
    ]


def _endpoint(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str | int) or value == "":
        raise ValueError("needs an id")
    return str(value)


def read_dump(path: Path) -> RawBundle:
    """A dump's nodes and relationships as ledger rows, numbered by line."""
    bundle = RawBundle()
    rows: dict[str, RawTable] = {}
    node_rows: dict[str, tuple[RawRow, Label]] = {}
    pending: list[tuple[int, dict[str, Any]]] = []

    def table_rows(name: str) -> RawTable:
        if name not in rows:
            rows[name] = RawTable(BY_NAME[name], path.name, [])
        return rows[name]

    def bad(number: int, column: str, message: str) -> None:
        bundle.problems.append(Problem("dump", number, column, message))

    try:
        handle = path.open("rb")  # decoded line by line, so a bad line is named, not fatal
    except OSError as exc:
        raise GrassrootsError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, data in enumerate(handle, start=1):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                bad(number, "line", "not UTF-8 text; a dump is UTF-8 JSON, as `export` writes it")
                continue
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                bad(number, "line", f"not JSON ({exc.msg})")
                continue
            except RecursionError:
                bad(number, "line", "nested too deeply to be a node or a relationship")
                continue
            except ValueError as exc:  # e.g. an integer of more digits than Python reads
                bad(number, "line", f"not JSON that this reads ({exc})")
                continue
            if not isinstance(line, dict) or line.get("type") not in ("node", "relationship"):
                bad(number, "type", "each line must be a node or a relationship object")
                continue
            props = line.get("properties") or {}
            if not isinstance(props, dict):
                bad(number, "properties", "must be an object")
                continue
            if line["type"] == "node":
                labels = line.get("labels") or []
                known = [
                    lbl
                    for lbl in (labels if isinstance(labels, list) else [])
                    if isinstance(lbl, str) and lbl in Label.__members__.values()
                ]
                if len(known) != 1:
                    bad(number, "labels", f"needs exactly one of {', '.join(Label)}")
                    continue
                label = Label(known[0])
                row = RawRow(number, dict(props))
                if "id" not in row.cells and line.get("id") is not None:
                    row.cells["id"] = str(line["id"])
                table_rows(BY_LABEL[label].name).rows.append(row)
                node_rows[str(row.cells.get("id"))] = (row, label)
            else:
                pending.append((number, line))

    for number, line in pending:
        try:
            rel = RelType(str(line.get("label")))
            start, end = _endpoint(line.get("start")), _endpoint(line.get("end"))
        except ValueError as exc:
            bad(number, "label", f"not a relationship of this graph ({exc})")
            continue
        if rel in BY_LINK:
            table = BY_LINK[rel]
            cells = table.to_cells(Link(rel, start, end, "", dict(line.get("properties") or {})))
            table_rows(table.name).rows.append(RawRow(number, cells))
            continue
        if start not in node_rows:
            bad(number, "start", f"no node {start!r} in this dump")
            continue
        row, label = node_rows[start]
        refs = [ref for ref in BY_LABEL[label].refs if ref.rel is rel]
        if not refs:
            bad(number, "label", f"a {label.value} has no {rel.value} relationship")
            continue
        row.cells[refs[0].column] = end
    for raw in rows.values():
        raw.headers = sorted({h for r in raw.rows for h in r.cells})
    bundle.tables = list(rows.values())
    return bundle
