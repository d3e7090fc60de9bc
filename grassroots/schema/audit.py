"""The audit log: who changed what, when, through what, and what it was before.

Glossary
    entry     one write: an import, a mutation, a reset, an account or token change; who
              made it (``actor``: an account's name, or the operating-system user of a
              CLI command run with no account), when, through what (``via``: cli or
              api) and what it did (``action``).
    change    one node, link, account or token the write changed: its value before (None
              for a created one) and after (None for a removed one), as ``element_doc``
              spells it, personal fields hidden as the API hides them.

Entries are only ever appended: no interface of Grassroots changes or deletes one, and
a reset of the graph keeps them.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from grassroots.schema.elements import Label, Link, Node
from grassroots.schema.person import Person, hide_personal, mask

Via = Literal["cli", "api"]
Kind = Literal["node", "link", "account", "token", "graph"]


class Actor(BaseModel):
    """Who writes, and through what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    via: Via

    @classmethod
    def local(cls, account: str | None = None) -> Actor:
        """A command of this machine: for ``account`` (``--as``), or else the
        operating-system user and machine (``wang@ops-01``)."""
        if account:
            return cls(name=account, via="cli")
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # a container's user with no name
            user = str(os.getuid())
        return cls(name=f"{user}@{socket.gethostname()}", via="cli")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    type: str  # the label (Area...), the link type (HOLDS_POST...), or account / token
    id: str  # a node's id, a link's key, an account's name, a token's id
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # sorts as the entries were made: the time, then a random tail
    at: datetime
    actor: str
    via: Via
    action: str  # import, mutation addArea, reset, users add, tokens revoke...
    changes: list[Change] = Field(default_factory=list)

    @classmethod
    def begin(cls, actor: Actor, action: str, changes: list[Change] | None = None) -> Entry:
        at = datetime.now(UTC)
        stamp = at.strftime("%Y%m%dT%H%M%S.%fZ")
        return cls(
            id=f"{stamp}-{secrets.token_hex(4)}",
            at=at,
            actor=actor.name,
            via=actor.via,
            action=action,
            changes=changes or [],
        )


def element_doc(element: Node | Link) -> dict[str, Any]:
    """A node's properties and references (by relationship type), or a link's ends and
    properties, as the log keeps them: a person's personal fields hidden, and the
    properties of a person's extra columns masked (a ``手机`` column is no ``phone``,
    but it is no less personal)."""
    if isinstance(element, Node):
        props = element.props
        if element.label is Label.PERSON:
            props = {
                k: v if k in Person.model_fields or v is None else mask(str(v))
                for k, v in hide_personal(props).items()
            }
        return {**props, **{rel.value: end for rel, end in element.refs.items()}}
    # a link's person end carries no personal field: its properties are the link's own
    return {"start": element.start, "end": element.end, **element.props}


def change_of(before: Node | Link | None, after: Node | Link) -> Change:
    """The change that writing ``after`` over ``before`` (None: a new one) makes."""
    if isinstance(after, Node):
        kind: Kind = "node"
        type_, key = after.label.value, after.id
    else:
        kind, type_, key = "link", after.type.value, after.key
    return Change(
        kind=kind,
        type=type_,
        id=key,
        before=None if before is None else element_doc(before),
        after=element_doc(after),
    )


Row = tuple[str, datetime, str, str, str, int, str, str, str, str | None, str | None]
"""One change as a store keeps it, beside its entry's fields: entry id, at, actor, via,
action, the change's number in its entry, kind, type, id, before and after as JSON."""

COLUMNS = ("entry", "at", "actor", "via", "action", "n", "kind", "type", "id", "before", "after")


def _json(doc: dict[str, Any] | None) -> str | None:
    return None if doc is None else orjson.dumps(doc, default=str).decode()


def rows_of(entry: Entry, changes: Iterable[Change], start: int = 0) -> Iterator[Row]:
    """The rows that keep ``entry`` with ``changes``, numbered from ``start`` (streamed:
    an import of a city changes a million elements, and no list of them is held)."""
    head = (entry.id, entry.at, entry.actor, entry.via, entry.action)
    for n, change in enumerate(changes, start):
        yield (*head, n, change.kind, change.type, change.id, _json(change.before),
               _json(change.after))  # fmt: skip


def entries_of(rows: Iterable[Sequence[Any]]) -> list[Entry]:
    """The entries kept as ``rows`` (in entry, then change order)."""
    found: dict[str, Entry] = {}
    for entry_id, at, actor, via, action, _, kind, type_, key, before, after in rows:
        entry = found.get(entry_id)
        if entry is None:
            moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            entry = found[entry_id] = Entry(
                id=entry_id, at=moment, actor=actor, via=via, action=action
            )
        entry.changes.append(
            Change(
                kind=kind,
                type=type_,
                id=key,
                before=None if before is None else orjson.loads(before),
                after=None if after is None else orjson.loads(after),
            )
        )
    return list(found.values())
