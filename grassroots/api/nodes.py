"""The graph's nouns as GraphQL types, each a thin view over a stored node.

Their scalar values are what the schema's pydantic models made of the ledger; their
relationships resolve through the request's DataLoaders, so a list of N items costs one
batched store read per relationship, not N. (One module for all nouns: they refer to each
other in both directions, and strawberry resolves such cycles within a module.)
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import date
from typing import Generic, TypeVar

import strawberry
from strawberry.types import Info

from grassroots.api.context import Context
from grassroots.errors import GrassrootsError
from grassroots.graph.filters import active
from grassroots.graph.store import Neighbour
from grassroots.queries import linkage
from grassroots.schema import (
    AreaKind,
    DispatchRole,
    Education,
    Gender,
    Label,
    Node,
    OrgCategory,
    OrgForm,
    PostKind,
    RelType,
    UnitKind,
    UnitLevel,
    hide_personal,
)

for _enum in (
    AreaKind,
    DispatchRole,
    Education,
    Gender,
    OrgCategory,
    OrgForm,
    PostKind,
    UnitKind,
    UnitLevel,
):
    strawberry.enum(_enum)

I = Info[Context, None]  # noqa: E741  # the resolvers' info, short because it is everywhere
T = TypeVar("T")


def today(as_of: date | None) -> str:
    return (as_of or date.today()).isoformat()


def day_of(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise GrassrootsError(f"after: {cursor!r} is not a cursor this API gave") from None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    total_count: int
    edges: list[Edge[T]]
    page_info: PageInfo


def paginate(
    items: Sequence[T], key: Callable[[T], str], first: int | None, after: str | None, info: I
) -> Connection[T]:
    """A page of ``items`` (already in order) after the cursor ``after``."""
    size = info.context.page_size(first)
    start = 0
    if (mark := decode_cursor(after)) is not None:
        keys = [key(item) for item in items]
        start = keys.index(mark) + 1 if mark in keys else len(items)
    chosen = items[start : start + size]
    edges = [Edge(cursor=encode_cursor(key(item)), node=item) for item in chosen]
    return Connection(
        total_count=len(items),
        edges=edges,
        page_info=PageInfo(
            has_next_page=start + size < len(items),
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )


async def _node(info: I, node_id: str | None, label: Label | None = None) -> Node | None:
    return await info.context.loaders.node_of(label).load(node_id) if node_id else None


V = TypeVar("V")


async def _view(info: I, node_id: str | None, view: Callable[..., V]) -> V | None:
    """The node ``node_id`` seen as ``view`` (``Area``, ``Person``...), or None."""
    found = await _node(info, node_id, LABELS.get(view))
    return view(node=found) if found else None


async def _required(info: I, node_id: str, view: Callable[..., V]) -> V:
    """As ``_view``, for a reference the importer guarantees."""
    found = await _view(info, node_id, view)
    if found is None:
        raise GrassrootsError(f"{node_id!r} is referenced but not stored; re-import the ledger")
    return found


async def _linked(info: I, node_id: str, rel: RelType, direction: str) -> list[Neighbour]:
    return await info.context.loaders.neighbours_of(rel, direction).load(node_id)  # type: ignore[arg-type]


async def _linked_nodes(
    info: I,
    node_id: str,
    rel: RelType,
    direction: str,
    as_of: date | None = None,
    dated: bool = False,
) -> list[Node]:
    ids = [other for other, _ in await _linked(info, node_id, rel, direction)]
    nodes = await info.context.loaders.node_list(ids)
    if dated:
        day = today(as_of)
        nodes = [n for n in nodes if active(n.props, day)]
    return nodes


async def responsible_chain(info: I, node_id: str) -> list[PartyOrg]:
    """The party orgs responsible for ``node_id``, read through the request's loaders,
    so that asking it of every node of a page costs what asking it of one does."""
    found = await linkage.responsible_chain(info.context.loaders, node_id)
    return [PartyOrg(node=n) for n in found]


# -- nodes -------------------------------------------------------------------------------


@strawberry.type
class Stored:
    """A view over one stored node: its id, and resolvers reading the node."""

    node: strawberry.Private[Node]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.node.id)


@strawberry.type
class Named(Stored):
    @strawberry.field
    def name(self) -> str:
        return str(self.node.props["name"])


@strawberry.type(
    description="An area: city, district, subdistrict or township, community or "
    "village, grid, or building (楼栋, a building, courtyard or hamlet)."
)
class Area(Named):
    @strawberry.field
    def kind(self) -> AreaKind:
        return AreaKind(self.node.props["kind"])

    @strawberry.field
    def households_count(self) -> int | None:
        """The ledger's 户数 (the households column), not a count of household rows."""
        return self.node.props.get("households")

    @strawberry.field
    def population(self) -> int | None:
        return self.node.props.get("population")

    @strawberry.field
    def service_centre_m2(self) -> float | None:
        return self.node.props.get("service_centre_m2")

    @strawberry.field
    async def parent(self, info: I) -> Area | None:
        return await _view(info, self.node.refs.get(RelType.WITHIN), Area)

    @strawberry.field
    async def children(self, info: I, kind: AreaKind | None = None) -> list[Area]:
        nodes = await _linked_nodes(info, self.node.id, RelType.WITHIN, "in")
        return [Area(node=n) for n in nodes if kind is None or n.props.get("kind") == kind.value]

    @strawberry.field(description="Party orgs built on this area (建在…上).")
    async def party_orgs(self, info: I) -> list[PartyOrg]:
        return [
            PartyOrg(node=n)
            for n in await _linked_nodes(info, self.node.id, RelType.BUILT_ON, "in")
        ]

    @strawberry.field(description="The households of a building.")
    async def households(
        self, info: I, first: int | None = 100, after: str | None = None
    ) -> Connection[Household]:
        nodes = await _linked_nodes(info, self.node.id, RelType.IN_BUILDING, "in")
        return paginate([Household(node=n) for n in nodes], lambda h: h.node.id, first, after, info)

    @strawberry.field
    async def units(self, info: I) -> list[Unit]:
        return [
            Unit(node=n) for n in await _linked_nodes(info, self.node.id, RelType.LOCATED_IN, "in")
        ]

    @strawberry.field(description="Cadres dispatched to this area, active on asOf.")
    async def dispatches(self, info: I, as_of: date | None = None) -> list[Dispatch]:
        nodes = await _linked_nodes(info, self.node.id, RelType.SENT_TO, "in", as_of, True)
        return [Dispatch(node=n) for n in nodes]

    @strawberry.field
    async def responsible_chain(self, info: I) -> list[PartyOrg]:
        return await responsible_chain(info, self.node.id)


@strawberry.type(description="A party organisation (党组织).")
class PartyOrg(Named):
    @strawberry.field
    def form(self) -> OrgForm:
        return OrgForm(self.node.props["form"])

    @strawberry.field
    def category(self) -> OrgCategory:
        return OrgCategory(self.node.props.get("category", OrgCategory.TERRITORIAL.value))

    @strawberry.field
    def member_count(self) -> int | None:
        return self.node.props.get("member_count")

    @strawberry.field
    async def parent(self, info: I) -> PartyOrg | None:
        return await _view(info, self.node.refs.get(RelType.UNDER), PartyOrg)

    @strawberry.field(description="The area this org is built on (建在…上).")
    async def area(self, info: I) -> Area | None:
        return await _view(info, self.node.refs.get(RelType.BUILT_ON), Area)

    @strawberry.field
    async def children(self, info: I) -> list[PartyOrg]:
        return [
            PartyOrg(node=n) for n in await _linked_nodes(info, self.node.id, RelType.UNDER, "in")
        ]

    @strawberry.field(description="Posts held in this org, active on asOf.")
    async def posts(self, info: I, as_of: date | None = None) -> list[Post]:
        return await _posts(info, self.node.id, "in", as_of)

    @strawberry.field(description="The serving secretary on asOf.")
    async def secretary(self, info: I, as_of: date | None = None) -> Person | None:
        posts = [
            p
            for p in await _posts(info, self.node.id, "in", as_of)
            if p.props.get("post") == PostKind.SECRETARY.value
        ]
        if not posts:
            return None
        latest = max(posts, key=lambda p: (str(p.props.get("since") or ""), p.person_id))
        return await _view(info, latest.person_id, Person)

    @strawberry.field(description="Pairings with this org, active on asOf.")
    async def pairings(self, info: I, as_of: date | None = None) -> list[Pairing]:
        nodes = await _linked_nodes(info, self.node.id, RelType.WITH_ORG, "in", as_of, True)
        return [Pairing(node=n) for n in nodes]

    @strawberry.field(description="In-service members who reported here, active on asOf.")
    async def reports(self, info: I, as_of: date | None = None) -> list[InServiceReport]:
        day = today(as_of)
        return [
            InServiceReport(person_id=other, org_id=self.node.id, props=props)
            for other, props in await _linked(info, self.node.id, RelType.REPORTS_TO, "in")
            if active(props, day)
        ]

    @strawberry.field
    async def responsible_chain(self, info: I) -> list[PartyOrg]:
        return await responsible_chain(info, self.node.id)


@strawberry.type(description="A unit (单位): agency, enterprise, institution...")
class Unit(Named):
    @strawberry.field
    def kind(self) -> UnitKind:
        return UnitKind(self.node.props["kind"])

    @strawberry.field
    def level(self) -> UnitLevel | None:
        value = self.node.props.get("level")
        return UnitLevel(value) if value else None

    @strawberry.field
    async def area(self, info: I) -> Area | None:
        return await _view(info, self.node.refs.get(RelType.LOCATED_IN), Area)

    @strawberry.field(description="Pairings of this unit, active on asOf.")
    async def pairings(self, info: I, as_of: date | None = None) -> list[Pairing]:
        nodes = await _linked_nodes(info, self.node.id, RelType.WITH_UNIT, "in", as_of, True)
        return [Pairing(node=n) for n in nodes]

    @strawberry.field(description="Cadres this unit sent, active on asOf.")
    async def dispatches(self, info: I, as_of: date | None = None) -> list[Dispatch]:
        nodes = await _linked_nodes(info, self.node.id, RelType.SENT_BY, "in", as_of, True)
        return [Dispatch(node=n) for n in nodes]

    @strawberry.field(description="Its people (任职), active on asOf.")
    async def employments(self, info: I, as_of: date | None = None) -> list[Employment]:
        day = today(as_of)
        return [
            Employment(person_id=other, unit_id=self.node.id, props=props)
            for other, props in await _linked(info, self.node.id, RelType.EMPLOYED_BY, "in")
            if active(props, day)
        ]


@strawberry.type(
    description="A person. phone and idNumber are masked, and birthDate is null, unless "
    "the token has the personal grant."
)
class Person(Named):
    def _props(self, info: I) -> dict[str, object]:
        """The node's properties as this caller may see them: every personal one hidden
        together, unless the token has the ``personal`` grant."""
        props = self.node.props
        return props if "personal" in info.context.grants else hide_personal(props)

    @strawberry.field
    def gender(self) -> Gender | None:
        value = self.node.props.get("gender")
        return Gender(value) if value else None

    @strawberry.field(description="Null without the personal grant.")
    def birth_date(self, info: I) -> date | None:
        return day_of(self._props(info).get("birth_date"))

    @strawberry.field
    def education(self) -> Education | None:
        value = self.node.props.get("education")
        return Education(value) if value else None

    @strawberry.field
    def party_member(self) -> bool | None:
        return self.node.props.get("party_member")

    @strawberry.field(description="Masked (138****5678) without the personal grant.")
    def phone(self, info: I) -> str | None:
        value = self._props(info).get("phone")
        return None if value is None else str(value)

    @strawberry.field(description="Masked (210***********123X) without the personal grant.")
    def id_number(self, info: I) -> str | None:
        value = self._props(info).get("id_number")
        return None if value is None else str(value)

    @strawberry.field(description="Posts held, active on asOf.")
    async def posts(self, info: I, as_of: date | None = None) -> list[Post]:
        return await _posts(info, self.node.id, "out", as_of)

    @strawberry.field(description="Jobs (任职), active on asOf.")
    async def employments(self, info: I, as_of: date | None = None) -> list[Employment]:
        day = today(as_of)
        return [
            Employment(person_id=self.node.id, unit_id=other, props=props)
            for other, props in await _linked(info, self.node.id, RelType.EMPLOYED_BY, "out")
            if active(props, day)
        ]

    @strawberry.field(description="Dispatches of this person, active on asOf.")
    async def dispatches(self, info: I, as_of: date | None = None) -> list[Dispatch]:
        nodes = await _linked_nodes(info, self.node.id, RelType.OF_PERSON, "in", as_of, True)
        return [Dispatch(node=n) for n in nodes]

    @strawberry.field(description="Households this member keeps in touch with, on asOf.")
    async def contacts(self, info: I, as_of: date | None = None) -> list[Contact]:
        day = today(as_of)
        return [
            Contact(person_id=self.node.id, household_id=other, props=props)
            for other, props in await _linked(info, self.node.id, RelType.CONTACTS, "out")
            if active(props, day)
        ]


@strawberry.type(description="A household (住户) in a building.")
class Household(Stored):
    @strawberry.field
    def name(self) -> str:
        return str(self.node.props.get("name") or self.node.id)

    @strawberry.field
    def size(self) -> int | None:
        return self.node.props.get("size")

    @strawberry.field
    async def building(self, info: I) -> Area | None:
        return await _view(info, self.node.refs.get(RelType.IN_BUILDING), Area)

    @strawberry.field(description="Party members in contact, active on asOf.")
    async def contacts(self, info: I, as_of: date | None = None) -> list[Contact]:
        day = today(as_of)
        return [
            Contact(person_id=other, household_id=self.node.id, props=props)
            for other, props in await _linked(info, self.node.id, RelType.CONTACTS, "in")
            if active(props, day)
        ]

    @strawberry.field
    async def responsible_chain(self, info: I) -> list[PartyOrg]:
        return await responsible_chain(info, self.node.id)


@strawberry.type(description="Paired co-building (结对共建) of a unit with a party org.")
class Pairing(Stored):
    @strawberry.field
    async def unit(self, info: I) -> Unit:
        return await _required(info, self.node.refs[RelType.WITH_UNIT], Unit)

    @strawberry.field
    async def org(self, info: I) -> PartyOrg:
        return await _required(info, self.node.refs[RelType.WITH_ORG], PartyOrg)

    @strawberry.field(description="The area the paired party org is built on.")
    async def area(self, info: I) -> Area | None:
        org = await _node(info, self.node.refs[RelType.WITH_ORG])
        found = await _node(info, org.refs.get(RelType.BUILT_ON)) if org else None
        return Area(node=found) if found else None

    @strawberry.field(description="The leadership member responsible (责任领导).")
    async def responsible(self, info: I) -> Person | None:
        return await _view(info, self.node.refs.get(RelType.LED_BY), Person)

    @strawberry.field
    async def projects(self, info: I) -> list[Project]:
        return [
            Project(node=n)
            for n in await _linked_nodes(info, self.node.id, RelType.FOR_PAIRING, "in")
        ]

    @strawberry.field
    def since(self) -> date:
        found = day_of(self.node.props["since"])
        assert found is not None
        return found

    @strawberry.field
    def until(self) -> date | None:
        return day_of(self.node.props.get("until"))


@strawberry.type(description="A co-building project (共建项目).")
class Project(Named):
    @strawberry.field
    def category(self) -> str | None:
        return self.node.props.get("category")

    @strawberry.field(description="planned, active or done.")
    def status(self) -> str | None:
        return self.node.props.get("status")

    @strawberry.field
    async def pairing(self, info: I) -> Pairing | None:
        return await _view(info, self.node.refs.get(RelType.FOR_PAIRING), Pairing)


@strawberry.type(description="A dispatched cadre (选派干部).")
class Dispatch(Stored):
    @strawberry.field
    async def person(self, info: I) -> Person:
        return await _required(info, self.node.refs[RelType.OF_PERSON], Person)

    @strawberry.field
    async def unit(self, info: I) -> Unit:
        return await _required(info, self.node.refs[RelType.SENT_BY], Unit)

    @strawberry.field
    async def area(self, info: I) -> Area:
        return await _required(info, self.node.refs[RelType.SENT_TO], Area)

    @strawberry.field
    def role(self) -> DispatchRole:
        return DispatchRole(self.node.props["role"])

    @strawberry.field
    def since(self) -> date:
        found = day_of(self.node.props["since"])
        assert found is not None
        return found

    @strawberry.field
    def until(self) -> date | None:
        return day_of(self.node.props.get("until"))


# -- links -------------------------------------------------------------------------------


@strawberry.type
class PersonLink:
    """A link row: every link table starts at a person; ``props`` are its columns."""

    props: strawberry.Private[dict[str, object]]
    person_id: strawberry.Private[str]

    @strawberry.field
    def since(self) -> date | None:
        return day_of(self.props.get("since"))

    @strawberry.field
    def until(self) -> date | None:
        return day_of(self.props.get("until"))

    @strawberry.field
    async def person(self, info: I) -> Person:
        return await _required(info, self.person_id, Person)


@strawberry.type
class OrgLink(PersonLink):
    org_id: strawberry.Private[str]

    @strawberry.field
    async def org(self, info: I) -> PartyOrg:
        return await _required(info, self.org_id, PartyOrg)


@strawberry.type(description="A post (职务) a person holds in a party org.")
class Post(OrgLink):
    @strawberry.field
    def post(self) -> PostKind:
        return PostKind(str(self.props["post"]))

    @strawberry.field(description="A big-committee (大党委/大工委) part-time member.")
    def concurrent(self) -> bool:
        return bool(self.props.get("concurrent"))


async def _posts(info: I, node_id: str, direction: str, as_of: date | None) -> list[Post]:
    day = today(as_of)
    found = await _linked(info, node_id, RelType.HOLDS_POST, direction)
    return [
        Post(
            props=props,
            person_id=node_id if direction == "out" else other,
            org_id=other if direction == "out" else node_id,
        )
        for other, props in found
        if active(props, day)
    ]


@strawberry.type(description="A job (任职) of a person in a unit.")
class Employment(PersonLink):
    unit_id: strawberry.Private[str]

    @strawberry.field
    def position(self) -> str | None:
        value = self.props.get("position")
        return str(value) if value is not None else None

    @strawberry.field(description="A member of the unit's leadership team (班子成员).")
    def leadership(self) -> bool:
        return bool(self.props.get("leadership"))

    @strawberry.field
    async def unit(self, info: I) -> Unit:
        return await _required(info, self.unit_id, Unit)


@strawberry.type(description="A party member keeping in touch with a household (党员联系户).")
class Contact(PersonLink):
    household_id: strawberry.Private[str]

    @strawberry.field
    async def household(self, info: I) -> Household:
        return await _required(info, self.household_id, Household)


@strawberry.type(description="An in-service member reporting to a party org (在职党员报到).")
class InServiceReport(OrgLink):
    pass


VIEWS: dict[Label, type] = {
    Label.AREA: Area,
    Label.PARTY_ORG: PartyOrg,
    Label.UNIT: Unit,
    Label.PERSON: Person,
    Label.HOUSEHOLD: Household,
    Label.PAIRING: Pairing,
    Label.PROJECT: Project,
    Label.DISPATCH: Dispatch,
}
LABELS: dict[object, Label] = {view: label for label, view in VIEWS.items()}
"""The label a view shows, so that a field reading the node it points at reads that label."""
