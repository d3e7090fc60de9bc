"""The audit log in GraphQL, for admins: the same entries as ``grassroots audit``."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from grassroots.api.nodes import Connection, I, paginate
from grassroots.queries import audit
from grassroots.queries.places import resolve
from grassroots.schema import Label
from grassroots.schema.audit import Change, Entry


@strawberry.type(description="One field a change set, added or cleared.")
class AuditField:
    name: str
    before: JSON | None
    after: JSON | None


@strawberry.type(description="A node, link, account or token one write changed.")
class AuditChange:
    change: strawberry.Private[Change]

    @strawberry.field(description="node, link, account, token or graph (a reset).")
    def kind(self) -> str:
        return self.change.kind

    @strawberry.field(description="The label, the link type, or account / token.")
    def type(self) -> str:
        return self.change.type

    @strawberry.field(description="A node's id, a link's key, an account's name, a token's id.")
    def id(self) -> str:
        return self.change.id

    @strawberry.field(description="Its value before: null when the write created it.")
    def before(self) -> JSON | None:
        return None if self.change.before is None else JSON(self.change.before)

    @strawberry.field(description="Its value after: null when the write removed it.")
    def after(self) -> JSON | None:
        return None if self.change.after is None else JSON(self.change.after)

    @strawberry.field(description="The fields that differ between before and after.")
    def fields(self) -> list[AuditField]:
        return [AuditField(name=n, before=b, after=a) for n, b, a in audit.differences(self.change)]


@strawberry.type(description="One write: who, when, through what, and what it changed.")
class AuditEntry:
    entry: strawberry.Private[Entry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.entry.id)

    @strawberry.field
    def at(self) -> datetime:
        return self.entry.at

    @strawberry.field(description="An account's name, a CLI user (user@host), or token <digest>.")
    def actor(self) -> str:
        return self.entry.actor

    @strawberry.field(description="cli or api.")
    def via(self) -> str:
        return self.entry.via

    @strawberry.field(description="import, mutation addArea, reset, users add, tokens revoke...")
    def action(self) -> str:
        return self.entry.action

    @strawberry.field
    def changes(
        self, info: I, first: int | None = 100, after: str | None = None
    ) -> Connection[AuditChange]:
        items = [AuditChange(change=c) for c in self.entry.changes]
        keys = {id(item): str(n) for n, item in enumerate(items)}
        return paginate(items, lambda item: keys[id(item)], first, after, info)


async def audit_log(
    info: I,
    since: datetime | None,
    area_id: str | None,
    user: str | None,
    first: int | None,
    after: str | None,
) -> Connection[AuditEntry]:
    """The entries, oldest first; an admin bound to subtrees gets only their changes
    there, as ``grassroots audit --area`` would give them."""
    info.context.require("admin")
    seen = await info.context.subtrees()
    if seen is not None and area_id is not None:  # an area the admin sees, or not found
        area_id = await info.context.loaders.call(
            lambda store: resolve(store, str(area_id), (Label.AREA,), "areaId")
        )
    within = seen.visible if seen else None
    found = await info.context.whole.call(
        lambda store: audit.audit_log(store, since, area_id, user, within, "areaId")
    )
    entries = [AuditEntry(entry=e) for e in found]
    return paginate(entries, lambda e: e.entry.id, first, after, info)
