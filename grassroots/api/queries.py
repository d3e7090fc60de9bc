"""The query root: the contract's operations (CONTRACT.md section 5) and lookups of
every noun, with filters, search by name (Chinese included) and cursors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import strawberry

from grassroots.api.audit import AuditEntry, audit_log
from grassroots.api.coverage import CoverageReport, report
from grassroots.api.nodes import (
    VIEWS,
    Area,
    Connection,
    Dispatch,
    Edge,
    Household,
    I,
    PageInfo,
    Pairing,
    PartyOrg,
    Person,
    Project,
    Unit,
    decode_cursor,
    encode_cursor,
    responsible_chain,
)
from grassroots.api.paths import LinkPath, link_path
from grassroots.errors import GrassrootsError
from grassroots.queries import linkage, places
from grassroots.schema import (
    AreaKind,
    DispatchRole,
    Label,
    OrgForm,
    RelType,
    UnitKind,
    UnitLevel,
)


@strawberry.type(
    description="One org of an org chart, flat: every node but the root names its parentId."
)
class OrgChartNode:
    id: strawberry.ID
    parent_id: strawberry.ID | None
    name: str
    form: OrgForm
    depth: int
    child_count: int
    member_count: int | None
    secretary: Person | None
    area_id: strawberry.ID | None = strawberry.field(
        description="The area the org is built on (建在…上), as coverage gaps name it."
    )


SearchHit = Annotated[Area | PartyOrg | Unit | Person, strawberry.union("SearchHit")]


V = TypeVar("V")


async def _get(info: I, node_id: str, label: Label, view: Callable[..., V]) -> V | None:
    """The node ``node_id`` as ``view``, if it is a node of ``label``."""
    node = await info.context.loaders.node.load(node_id)
    return view(node=node) if node is not None and node.label is label else None


async def _find(
    info: I,
    label: Label,
    where: dict[str, Any],
    search: str | None,
    first: int | None,
    after: str | None,
) -> Connection:  # type: ignore[type-arg]
    """A page of nodes of ``label``, by id, as a connection (cursors are ids)."""
    size = info.context.page_size(first)
    page = await info.context.loaders.find(label, where, search, decode_cursor(after), size + 1)
    view = VIEWS[label]
    nodes = page.nodes[:size]
    edges = [Edge(cursor=encode_cursor(n.id), node=view(node=n)) for n in nodes]
    return Connection(
        total_count=page.total,
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(page.nodes) > size, end_cursor=edges[-1].cursor if edges else None
        ),
    )


async def _resolve(info: I, ref: str, label: Label, what: str) -> str:
    """``places.resolve`` of ``ref`` among ``label``'s nodes: an id, through the loaders;
    a name (a search by name, rarely typed) off the event loop."""
    node = await info.context.loaders.node.load(ref)
    if node is not None and node.label is label:
        return ref
    return await info.context.loaders.call(lambda store: places.resolve(store, ref, (label,), what))


@strawberry.type
class Query:
    @strawberry.field(
        description="Coverage rules checked as of asOf (default today), inside "
        "scope (an area, or a party org standing for its area)."
    )
    async def coverage(
        self,
        info: I,
        packs: list[str] | None = None,
        rules: list[str] | None = None,
        scope: strawberry.ID | None = None,
        as_of: date | None = None,
    ) -> CoverageReport:
        return await report(info, packs, rules, scope, as_of)

    @strawberry.field(
        description="Pairings active on asOf: of the party org built on areaId, "
        "of orgId, with unitId (all given filters apply)."
    )
    async def pairings(
        self,
        info: I,
        area_id: strawberry.ID | None = None,
        org_id: strawberry.ID | None = None,
        unit_id: strawberry.ID | None = None,
        as_of: date | None = None,
    ) -> list[Pairing]:
        found = await linkage.pairings(info.context.loaders, area_id, org_id, unit_id, as_of)
        return [Pairing(node=n) for n in found]

    @strawberry.field(
        description="Dispatches active on asOf: to areaId (with within: true, "
        "also to any area below it), by unitId, of role."
    )
    async def dispatches(
        self,
        info: I,
        area_id: strawberry.ID | None = None,
        unit_id: strawberry.ID | None = None,
        role: DispatchRole | None = None,
        as_of: date | None = None,
        within: bool = False,
    ) -> list[Dispatch]:
        found = await linkage.dispatches(
            info.context.loaders, area_id, unit_id, role.value if role else None, as_of, within
        )
        return [Dispatch(node=n) for n in found]

    @strawberry.field(
        description="The root org (its id, or its name if no other org has it) and its "
        "descendants down to depth levels, flat; childCount counts all children, also "
        "those beyond depth."
    )
    async def org_chart(
        self, info: I, root_id: strawberry.ID, depth: int = 2, as_of: date | None = None
    ) -> list[OrgChartNode]:
        if depth < 0 or depth > info.context.settings.api_max_depth:
            raise GrassrootsError(
                f"depth must be between 0 and {info.context.settings.api_max_depth}"
            )
        root = await _resolve(info, root_id, Label.PARTY_ORG, "rootId")
        chart = await linkage.org_chart(info.context.loaders, root, depth, as_of)
        return [
            OrgChartNode(
                id=strawberry.ID(c.org.id),
                parent_id=strawberry.ID(c.parent_id) if c.parent_id else None,
                name=str(c.org.props["name"]),
                form=OrgForm(c.org.props["form"]),
                area_id=strawberry.ID(area) if (area := c.org.refs.get(RelType.BUILT_ON)) else None,
                depth=c.depth,
                child_count=c.child_count,
                member_count=c.org.props.get("member_count"),
                secretary=Person(node=c.secretary) if c.secretary else None,
            )
            for c in chart
        ]

    @strawberry.field(
        description="The party orgs responsible for a household, an area or a party org, bottom-up."
    )
    async def responsible_chain(self, info: I, id: strawberry.ID) -> list[PartyOrg]:
        return await responsible_chain(info, id)

    @strawberry.field(
        description="The shortest chain of posts, employments, contacts, reports, "
        "pairings, dispatches and org/area parents active on asOf (default today) that "
        "joins two nodes, each given by id or unique exact name."
    )
    async def link_path(
        self, info: I, from_id: strawberry.ID, to_id: strawberry.ID, as_of: date | None = None
    ) -> LinkPath | None:
        return await link_path(info, from_id, to_id, as_of)

    @strawberry.field
    async def area(self, info: I, id: strawberry.ID) -> Area | None:
        return await _get(info, id, Label.AREA, Area)

    @strawberry.field
    async def party_org(self, info: I, id: strawberry.ID) -> PartyOrg | None:
        return await _get(info, id, Label.PARTY_ORG, PartyOrg)

    @strawberry.field
    async def unit(self, info: I, id: strawberry.ID) -> Unit | None:
        return await _get(info, id, Label.UNIT, Unit)

    @strawberry.field
    async def person(self, info: I, id: strawberry.ID) -> Person | None:
        return await _get(info, id, Label.PERSON, Person)

    @strawberry.field
    async def household(self, info: I, id: strawberry.ID) -> Household | None:
        return await _get(info, id, Label.HOUSEHOLD, Household)

    @strawberry.field
    async def pairing(self, info: I, id: strawberry.ID) -> Pairing | None:
        return await _get(info, id, Label.PAIRING, Pairing)

    @strawberry.field
    async def project(self, info: I, id: strawberry.ID) -> Project | None:
        return await _get(info, id, Label.PROJECT, Project)

    @strawberry.field
    async def dispatch(self, info: I, id: strawberry.ID) -> Dispatch | None:
        return await _get(info, id, Label.DISPATCH, Dispatch)

    @strawberry.field(description="Areas by kind, name (any part, Chinese included), in id order.")
    async def areas(
        self,
        info: I,
        kind: AreaKind | None = None,
        search: str | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> Connection[Area]:
        where = {"kind": [kind.value]} if kind else {}
        return await _find(info, Label.AREA, where, search, first, after)

    @strawberry.field(description="Party orgs by form, name, in id order.")
    async def party_orgs(
        self,
        info: I,
        form: OrgForm | None = None,
        search: str | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> Connection[PartyOrg]:
        where = {"form": [form.value]} if form else {}
        return await _find(info, Label.PARTY_ORG, where, search, first, after)

    @strawberry.field(description="Units by kind, level, name, in id order.")
    async def units(
        self,
        info: I,
        kind: UnitKind | None = None,
        level: UnitLevel | None = None,
        search: str | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> Connection[Unit]:
        where: dict[str, Any] = {}
        if kind:
            where["kind"] = [kind.value]
        if level:
            where["level"] = [level.value]
        return await _find(info, Label.UNIT, where, search, first, after)

    @strawberry.field(description="People by name, in id order.")
    async def people(
        self, info: I, search: str | None = None, first: int | None = 100, after: str | None = None
    ) -> Connection[Person]:
        return await _find(info, Label.PERSON, {}, search, first, after)

    @strawberry.field(
        description="The audit log, oldest entry first (admins only): every write since "
        "since, by user, of what lies in areaId's subtree."
    )
    async def audit_log(
        self,
        info: I,
        since: datetime | None = None,
        area_id: strawberry.ID | None = None,
        user: str | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        return await audit_log(info, since, area_id, user, first, after)

    @strawberry.field(description="Areas, party orgs, units and people whose name contains text.")
    async def search(self, info: I, text: str, first: int | None = 20) -> list[SearchHit]:
        size = info.context.page_size(first, 20)
        hits: list[SearchHit] = []
        for label in (Label.AREA, Label.PARTY_ORG, Label.UNIT, Label.PERSON):
            page = await info.context.loaders.find(label, None, text, None, size - len(hits))
            for node in page.nodes:
                hits.append(VIEWS[label](node=node))
            if len(hits) >= size:
                break
        return hits
