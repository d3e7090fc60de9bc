"""Reading the audit log: "who changed this grid's branch secretary, when, and what was
it before?" The store keeps the entries (``Store.audit_log``); this narrows them to an
area's subtree and renders them as a table, JSON or a workbook.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table

from grassroots.graph.store import Store
from grassroots.graph.subtrees import reach
from grassroots.queries.coverage.report import _append
from grassroots.queries.places import resolve
from grassroots.schema import Label
from grassroots.schema.audit import Change, Entry


def audit_log(
    store: Store,
    since: datetime | None = None,
    area: str | None = None,
    user: str | None = None,
    within: frozenset[str] | None = None,
    what: str = "--area",
) -> list[Entry]:
    """The entries made at or after ``since`` by ``user``; with ``area`` (an id or a
    unique name), only their changes to what lies in its subtree or at its boundary
    (``grassroots.graph.subtrees``), and only the entries that keep one; with ``within``
    (what an account bound to subtrees sees), only changes to those nodes."""
    entries = store.audit_log(since, user)
    if area is not None:
        near = reach(store, [resolve(store, area, (Label.AREA,), what)]).visible
        entries = _kept(entries, lambda c: c if _touches(c, near) else None)
    if within is not None:
        entries = _kept(entries, lambda c: _seen(c, within))
    return entries


def _kept(entries: list[Entry], keep: Callable[[Change], Change | None]) -> list[Entry]:
    """The entries with the changes ``keep`` keeps (as it gives them), and only those
    that keep one."""
    out = []
    for entry in entries:
        changes = [kept for c in entry.changes if (kept := keep(c)) is not None]
        if changes:
            out.append(entry.model_copy(update={"changes": changes}))
    return out


def _seen(change: Change, ids: frozenset[str]) -> Change | None:
    """``change`` as an account that sees ``ids`` may read it: a node it sees, a link
    both of whose ends it sees (before and after), without the references that lead to
    what it does not see; else None."""
    if change.kind not in ("node", "link"):
        return None
    docs = [d for d in (change.before, change.after) if d]
    if change.kind == "node" and change.id not in ids:
        return None
    if change.kind == "link" and not all(d.get(e) in ids for d in docs for e in ("start", "end")):
        return None

    def cut(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None:
            return None
        return {k: v for k, v in doc.items() if not (k.isupper() and v not in ids)}

    return change.model_copy(update={"before": cut(change.before), "after": cut(change.after)})


def _touches(change: Change, ids: frozenset[str]) -> bool:
    """Whether ``change`` is of a node in ``ids``, or of a link, or a node since moved or
    removed, whose ends or references were or are in ``ids``: ``--area``'s filter, for
    the operator, who sees everything (an account's is ``_seen``)."""
    if change.kind not in ("node", "link"):
        return False
    if change.id in ids:
        return True
    for doc in (change.before, change.after):
        if doc and any(isinstance(v, str) and v in ids for k, v in doc.items() if k.isupper()):
            return True
        if doc and (doc.get("start") in ids or doc.get("end") in ids):
            return True
    return False


def differences(change: Change) -> list[tuple[str, Any, Any]]:
    """``(field, before, after)`` for each field the change set, added or cleared."""
    before, after = change.before or {}, change.after or {}
    return [
        (name, before.get(name), after.get(name))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def _shown(value: Any) -> str:
    return "—" if value is None else str(value)


def _what(change: Change) -> str:
    if change.after is None and change.before is not None and change.kind == "graph":
        return "emptied: " + ", ".join(f"{n} {k}" for k, n in sorted(change.before.items()))
    verb = "created" if change.before is None else "changed"
    if change.after is None:
        verb = "removed"
    fields = "; ".join(f"{k}: {_shown(b)} → {_shown(a)}" for k, b, a in differences(change))
    return f"{verb} {fields}" if verb == "changed" else verb


def print_table(entries: list[Entry], console: Console, limit: int = 20) -> None:
    """A row per change, newest entry first; each entry shows at most ``limit`` of its
    changes (an import of a district changes thousands), and says how many it has."""
    table = Table(box=box.SIMPLE_HEAD)
    for header in ("时间 at (UTC)", "谁 who", "经 via", "操作 action", "对象 what", "改动 change"):
        table.add_column(header)
    for entry in reversed(entries):
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        for n, change in enumerate(entry.changes[:limit]):
            head = (at, entry.actor, entry.via, entry.action) if n == 0 else ("", "", "", "")
            table.add_row(*head, f"{change.type} {change.id}", _what(change))
        if len(entry.changes) > limit:
            rest = len(entry.changes) - limit
            table.add_row("", "", "", "", f"... {rest} more", "--format json or xlsx lists all")
    if not entries:
        console.print("no entries in the audit log match", markup=False)
        return
    console.print(table)


def to_json(entries: list[Entry]) -> str:
    docs = [entry.model_dump(mode="json") for entry in entries]
    return orjson.dumps(docs, option=orjson.OPT_INDENT_2).decode()


def write_xlsx(entries: list[Entry], path: Path) -> None:
    """One sheet, a row per change: when, who, via, action, what, and each changed field
    before and after."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "审计 audit log"
    _append(sheet, ["时间 at (UTC)", "谁 who", "经 via", "操作 action", "类型 type", "编号 id",
                    "字段 field", "之前 before", "之后 after"])  # fmt: skip
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for entry in entries:
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S")
        for change in entry.changes:
            head = [at, entry.actor, entry.via, entry.action, change.type, change.id]
            fields = differences(change) or [("", None, None)]
            for name, before, after in fields:
                _append(sheet, [*head, name, _cell(before), _cell(after)])
    book.save(path)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str):
        return value
    return orjson.dumps(value).decode()
