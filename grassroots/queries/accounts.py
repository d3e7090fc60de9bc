"""Accounts and tokens: adding, disabling, issuing, revoking, and telling who a token
belongs to (``caller``). Kept in the store (``Store.records``), so every process that
opens it (the CLI, ``serve``) sees the same accounts, and a revocation or an expiry
counts from the next request on.

A token is ``gr_`` and 43 random URL-safe characters (256 bits): a secret that long
needs no slow hash, so the store keeps its SHA-256 digest, and a token is looked up by
that digest.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from grassroots.errors import GrassrootsError, NotFound
from grassroots.graph.store import Store
from grassroots.queries.places import resolve
from grassroots.schema import Account, Label, Role, Token
from grassroots.schema.audit import Actor, Change, Entry

ACCOUNT, TOKEN = "account", "token"


@dataclass(frozen=True)
class Caller:
    """Who a request comes from, as the API needs to know it."""

    account: str
    role: Role
    areas: tuple[str, ...]
    personal: bool

    @property
    def grants(self) -> frozenset[str]:
        return self.role.grants | ({"personal"} if self.personal else frozenset())


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


def accounts(store: Store) -> list[Account]:
    return [Account.model_validate(doc) for doc in store.records(ACCOUNT).values()]


def account(store: Store, name: str) -> Account:
    doc = store.records(ACCOUNT).get(name)
    if doc is None:
        raise NotFound(f"there is no account {name!r}: `grassroots users list` shows them")
    return Account.model_validate(doc)


def writer(store: Store, name: str) -> Account:
    """The account ``name``, if it may write: active, an editor or an admin."""
    found = account(store, name)
    if found.disabled:
        raise GrassrootsError(f"the account {name!r} is disabled")
    if "write" not in found.role.grants:
        raise GrassrootsError(
            f"the account {name!r} is a {found.role.value}, who may not write: an editor or"
            " an admin may"
        )
    return found


def _doc(record: Account | Token | None) -> dict[str, Any] | None:
    """A record as the audit log keeps it: a token without its digest."""
    return None if record is None else record.model_dump(mode="json", exclude={"digest"})


def _put(
    store: Store,
    before: Account | Token | None,
    after: Account | Token,
    actor: Actor | None,
    action: str,
) -> None:
    """Save ``after`` (over ``before``), with its audit entry (``actor``, default: this
    machine's user)."""
    kind, key, shown = (
        (ACCOUNT, after.name, after.name)
        if isinstance(after, Account)
        else (TOKEN, after.digest, after.id)
    )
    change = Change(kind=kind, type=kind, id=shown, before=_doc(before), after=_doc(after))
    entry = Entry.begin(actor or Actor.local(), action, [change])
    store.put_record(kind, key, after.model_dump(mode="json"), entry)


def add_account(
    store: Store,
    name: str,
    role: Role,
    areas: list[str],
    personal: bool = False,
    actor: Actor | None = None,
) -> Account:
    """A new account; ``areas`` (ids or unique names) are resolved to area ids."""
    name = name.strip()
    if not name:
        raise GrassrootsError("an account needs a name")
    if name in store.records(ACCOUNT):
        raise GrassrootsError(
            f"the account {name!r} exists already: pick another name, or disable it first"
        )
    roots = [resolve(store, area, (Label.AREA,), "--area") for area in areas]
    made = Account(
        name=name, role=role, areas=list(dict.fromkeys(roots)), personal=personal, created=now()
    )
    _put(store, None, made, actor, "users add")
    return made


def disable_account(store: Store, name: str, actor: Actor | None = None) -> Account:
    """The account, disabled: none of its tokens answers from the next request on."""
    before = account(store, name)
    found = before.model_copy(update={"disabled": True})
    _put(store, before, found, actor, "users disable")
    return found


def tokens(store: Store, of: str | None = None) -> list[Token]:
    found = [Token.model_validate(doc) for doc in store.records(TOKEN).values()]
    return sorted((t for t in found if of in (None, t.account)), key=lambda t: t.issued)


def issue_token(
    store: Store, name: str, expires: datetime | None = None, actor: Actor | None = None
) -> tuple[str, Token]:
    """A new token of the account ``name``: its secret (shown once) and its record."""
    if account(store, name).disabled:
        raise GrassrootsError(f"the account {name!r} is disabled: it gets no new tokens")
    if expires is not None and expires <= now():
        raise GrassrootsError("--expires must lie in the future")
    secret = "gr_" + secrets.token_urlsafe(32)
    made = Token(
        id=secrets.token_hex(4), account=name, digest=digest(secret), issued=now(), expires=expires
    )
    _put(store, None, made, actor, "tokens issue")
    return secret, made


def revoke_token(store: Store, token_id: str, actor: Actor | None = None) -> Token:
    for found in tokens(store):
        if found.id == token_id:
            if found.revoked is None:
                before, found = found, found.model_copy(update={"revoked": now()})
                _put(store, before, found, actor, "tokens revoke")
            return found
    raise NotFound(f"there is no token {token_id!r}: `grassroots tokens list` shows them")


def caller(store: Store, secret: str, at: datetime | None = None) -> Caller | None:
    """Who ``secret`` belongs to, or None when it is unknown, revoked, expired, or its
    account is disabled (the API answers all four alike: 401)."""
    doc = store.records(TOKEN).get(digest(secret))
    if doc is None:
        return None
    found = Token.model_validate(doc)
    if found.state(at or now()) != "active":
        return None
    owner = store.records(ACCOUNT).get(found.account)
    if owner is None:
        return None
    user = Account.model_validate(owner)
    if user.disabled:
        return None
    return Caller(user.name, user.role, tuple(user.areas), user.personal)
