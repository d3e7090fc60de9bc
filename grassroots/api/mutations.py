"""Day-to-day upkeep: add an area or party org; save (create or update) and end a post,
pairing, project, dispatch or contact. Every mutation is a one-row ledger bundle run
through the importer, so it is validated by the same models and invariants and written
in one transaction. Expected failures are members of each result union, not errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Annotated, Any

import strawberry
from starlette.concurrency import run_in_threadpool

from grassroots.api.nodes import (
    Area,
    Contact,
    Dispatch,
    I,
    Pairing,
    PartyOrg,
    Post,
    Project,
)
from grassroots.errors import LedgerError
from grassroots.errors import Problem as LedgerProblem
from grassroots.graph.store import Store
from grassroots.graph.subtrees import ScopedStore, reach
from grassroots.importers.ledger import import_rows
from grassroots.importers.sources import RawBundle, RawRow, RawTable
from grassroots.schema import (
    BY_NAME,
    AreaKind,
    DispatchRole,
    Link,
    Node,
    OrgCategory,
    OrgForm,
    PostKind,
)

# -- failures --------------------------------------------------------------------------


@strawberry.type(description="One bad field of the input.")
class Problem:
    field: str
    message: str


@strawberry.interface(description="Why a mutation wrote nothing.")
class Failure:
    message: str
    problems: list[Problem]


@strawberry.type(description="An id names nothing of the right kind.")
class DanglingReference(Failure):
    pass


@strawberry.type(description="The change would make a tree loop back on itself.")
class CycleDetected(Failure):
    pass


@strawberry.type(description="until is before since.")
class InvalidDateRange(Failure):
    pass


@strawberry.type(description="An area would lie within one of the same or a lower kind.")
class KindOutOfOrder(Failure):
    pass


@strawberry.type(description="The id is already used by a node of another kind.")
class DuplicateId(Failure):
    pass


@strawberry.type(description="There is nothing to end: no such record.")
class NothingToEnd(Failure):
    pass


@strawberry.type(description="A value is missing or not valid.")
class InvalidInput(Failure):
    pass


FAILURES: dict[str, type[Failure]] = {
    "reference": DanglingReference,
    "cycle": CycleDetected,
    "dates": InvalidDateRange,
    "kind_order": KindOutOfOrder,
    "duplicate": DuplicateId,
}
_Fails = DanglingReference | CycleDetected | InvalidDateRange | KindOutOfOrder | DuplicateId
AreaResult = Annotated[Area | _Fails | InvalidInput, strawberry.union("AreaResult")]
PartyOrgResult = Annotated[PartyOrg | _Fails | InvalidInput, strawberry.union("PartyOrgResult")]
PostResult = Annotated[Post | _Fails | NothingToEnd | InvalidInput, strawberry.union("PostResult")]
PairingResult = Annotated[
    Pairing | _Fails | NothingToEnd | InvalidInput, strawberry.union("PairingResult")
]
ProjectResult = Annotated[Project | _Fails | InvalidInput, strawberry.union("ProjectResult")]
DispatchResult = Annotated[
    Dispatch | _Fails | NothingToEnd | InvalidInput, strawberry.union("DispatchResult")
]
ContactResult = Annotated[
    Contact | _Fails | NothingToEnd | InvalidInput, strawberry.union("ContactResult")
]


def _failure(problems: list[LedgerProblem]) -> Failure:
    first = problems[0]
    kind = FAILURES.get(first.code, InvalidInput)
    return kind(
        message="; ".join(f"{p.column}: {p.message}" for p in problems),
        problems=[Problem(field=p.column, message=p.message) for p in problems],
    )


# -- inputs ----------------------------------------------------------------------------


@strawberry.input
class AreaInput:
    id: strawberry.ID
    name: str
    kind: AreaKind
    parent_id: strawberry.ID | None = None
    households: int | None = None
    population: int | None = None


@strawberry.input
class PartyOrgInput:
    id: strawberry.ID
    name: str
    form: OrgForm
    parent_id: strawberry.ID | None = None
    area_id: strawberry.ID | None = None
    member_count: int | None = None
    category: OrgCategory | None = None


@strawberry.input
class PostInput:
    person_id: strawberry.ID
    org_id: strawberry.ID
    post: PostKind
    concurrent: bool = False
    since: date | None = None
    until: date | None = None


@strawberry.input
class PairingInput:
    id: strawberry.ID
    unit_id: strawberry.ID
    org_id: strawberry.ID
    since: date
    responsible_id: strawberry.ID | None = None
    until: date | None = None


@strawberry.input
class ProjectInput:
    id: strawberry.ID
    pairing_id: strawberry.ID
    name: str
    category: str | None = None
    status: str | None = None


@strawberry.input
class DispatchInput:
    id: strawberry.ID
    person_id: strawberry.ID
    unit_id: strawberry.ID
    area_id: strawberry.ID
    role: DispatchRole
    since: date
    until: date | None = None


@strawberry.input
class ContactInput:
    person_id: strawberry.ID
    household_id: strawberry.ID
    since: date | None = None
    until: date | None = None


# -- saving through the importer -------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


def _save(info: I, table_name: str, values: dict[str, Any]) -> Node | Link | Failure:
    info.context.require("write")
    table = BY_NAME[table_name]
    cells = {k: _cell(v) for k, v in values.items() if v is not None}
    bundle = RawBundle([RawTable(table, "api", list(cells), [RawRow(2, cells)])])
    try:
        # the row path: it reads only what the row touches (a staged import reads every
        # stored id of Neo4j first), and only what the caller's account sees
        import_rows(
            info.context.store,
            bundle,
            actor=info.context.actor,
            within=info.context.areas,
            action=f"mutation {info.field_name}",
        )
    except LedgerError as exc:
        return _failure(exc.problems)
    element = table.to_element(table.model.model_validate(cells))
    store = info.context.store
    if isinstance(element, Node):
        return store.nodes([element.id])[element.id]
    return store.links([(element.type, element.key)])[(element.type, element.key)]


def _input(data: object) -> dict[str, Any]:
    return dict(vars(data))


def _post(saved: Node | Link | Failure) -> Post | Failure:
    if isinstance(saved, Link):
        return Post(props=saved.props, person_id=saved.start, org_id=saved.end)
    assert isinstance(saved, Failure)
    return saved


def _contact(saved: Node | Link | Failure) -> Contact | Failure:
    if isinstance(saved, Link):
        return Contact(props=saved.props, person_id=saved.start, household_id=saved.end)
    assert isinstance(saved, Failure)
    return saved


def _view(saved: Node | Link | Failure, view: type) -> Any:
    return view(node=saved) if isinstance(saved, Node) else saved


def _nothing(what: str) -> NothingToEnd:
    return NothingToEnd(
        message=f"no {what} to end", problems=[Problem(field="id", message="not found")]
    )


def _reader(info: I) -> Store:
    """The request's snapshot as the caller sees it (``grassroots.graph.subtrees``)."""
    store, areas = info.context.store, info.context.areas
    if not areas:
        return store
    return ScopedStore(store, reach(store, areas))


def _end_node(info: I, table_name: str, node_id: str, until: date) -> Node | Link | Failure:
    info.context.require("write")
    table = BY_NAME[table_name]
    node = _reader(info).nodes([node_id]).get(node_id)
    if node is None or node.label is not table.label:
        return _nothing(f"{table_name.rstrip('s')} {node_id!r}")
    return _save(info, table_name, {**table.to_cells(node), "until": until})


def _end_link(
    info: I, table_name: str, values: dict[str, Any], until: date
) -> Node | Link | Failure:
    info.context.require("write")
    table = BY_NAME[table_name]
    assert table.rel is not None
    key = table.key_of({column: _cell(value) for column, value in values.items()})
    link = _reader(info).links([(table.rel, key)]).get((table.rel, key))
    if link is None:
        return _nothing(table_name.rstrip("s"))
    return _save(info, table_name, {**table.to_cells(link), "until": until})


async def _off_loop(
    write: Callable[..., Node | Link | Failure], *args: Any
) -> Node | Link | Failure:
    """A write on a worker thread: it may wait for an import's critical section (up to
    GRASSROOTS_LOCK_SECONDS), and serve's event loop must answer other requests meanwhile."""
    return await run_in_threadpool(write, *args)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Add or update an area.")
    async def add_area(self, info: I, input: AreaInput) -> AreaResult:
        return _view(await _off_loop(_save, info, "areas", _input(input)), Area)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Add or update a party org.")
    async def add_party_org(self, info: I, input: PartyOrgInput) -> PartyOrgResult:
        return _view(await _off_loop(_save, info, "party_orgs", _input(input)), PartyOrg)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Create or update a post (keyed by person, org, post, since).")
    async def save_post(self, info: I, input: PostInput) -> PostResult:
        return _post(await _off_loop(_save, info, "posts", _input(input)))  # type: ignore[return-value]

    @strawberry.mutation(description="End a post on a day.")
    async def end_post(
        self,
        info: I,
        person_id: strawberry.ID,
        org_id: strawberry.ID,
        post: PostKind,
        until: date,
        since: date | None = None,
    ) -> PostResult:
        values = {"person_id": person_id, "org_id": org_id, "post": post, "since": since}
        return _post(await _off_loop(_end_link, info, "posts", values, until))  # type: ignore[return-value]

    @strawberry.mutation(description="Create or update a pairing.")
    async def save_pairing(self, info: I, input: PairingInput) -> PairingResult:
        return _view(await _off_loop(_save, info, "pairings", _input(input)), Pairing)  # type: ignore[no-any-return]

    @strawberry.mutation(description="End a pairing on a day.")
    async def end_pairing(self, info: I, id: strawberry.ID, until: date) -> PairingResult:
        return _view(await _off_loop(_end_node, info, "pairings", id, until), Pairing)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Create or update a co-building project.")
    async def save_project(self, info: I, input: ProjectInput) -> ProjectResult:
        return _view(await _off_loop(_save, info, "projects", _input(input)), Project)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Create or update a dispatch.")
    async def save_dispatch(self, info: I, input: DispatchInput) -> DispatchResult:
        return _view(await _off_loop(_save, info, "dispatches", _input(input)), Dispatch)  # type: ignore[no-any-return]

    @strawberry.mutation(description="End a dispatch on a day.")
    async def end_dispatch(self, info: I, id: strawberry.ID, until: date) -> DispatchResult:
        return _view(await _off_loop(_end_node, info, "dispatches", id, until), Dispatch)  # type: ignore[no-any-return]

    @strawberry.mutation(description="Create or update a member-household contact.")
    async def save_contact(self, info: I, input: ContactInput) -> ContactResult:
        return _contact(await _off_loop(_save, info, "contacts", _input(input)))  # type: ignore[return-value]

    @strawberry.mutation(description="End a member-household contact on a day.")
    async def end_contact(
        self,
        info: I,
        person_id: strawberry.ID,
        household_id: strawberry.ID,
        until: date,
        since: date | None = None,
    ) -> ContactResult:
        values = {"person_id": person_id, "household_id": household_id, "since": since}
        return _contact(await _off_loop(_end_link, info, "contacts", values, until))  # type: ignore[return-value]
