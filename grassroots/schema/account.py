"""Who may use the API: accounts, their roles and their tokens (kept in the store as
records beside the graph, ``Store.records``; issued and checked by
``grassroots.queries.accounts``).

Glossary
    account   a named user: a role, the area subtrees it is bound to (none: the whole
              graph) and whether it may see personal fields in full.
    role      viewer 查看 (reads), editor 编辑 (reads and writes), admin 管理 (also the
              audit log and accounts).
    token     a random secret shown once when issued; the store keeps only its SHA-256
              digest, its account, when it expires and whether it was revoked.

>>> Role("编辑").grants
frozenset({'read', 'write'})
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from grassroots.schema.base import Choice


class Role(Choice):
    VIEWER = "viewer", "查看"
    EDITOR = "editor", "编辑"
    ADMIN = "admin", "管理"

    @property
    def grants(self) -> frozenset[str]:
        """What the role may do, in the API's grant names."""
        return {
            Role.VIEWER: frozenset({"read"}),
            Role.EDITOR: frozenset({"read", "write"}),
            Role.ADMIN: frozenset({"read", "write", "admin"}),
        }[self]


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    role: Role
    areas: list[str] = Field(default_factory=list)  # subtree roots; empty: the whole graph
    personal: bool = False
    disabled: bool = False
    created: datetime


class Token(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str  # public, short: what `tokens list` shows and `tokens revoke` takes
    account: str
    digest: str  # SHA-256 of the secret, hex; the secret itself is never stored
    issued: datetime
    expires: datetime | None = None
    revoked: datetime | None = None

    def state(self, at: datetime) -> str:
        """``revoked``, ``expired`` or ``active`` at the moment ``at``."""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= at:
            return "expired"
        return "active"
