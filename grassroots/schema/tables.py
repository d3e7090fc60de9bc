"""The ledger's tables (CONTRACT.md section 2) and how each row becomes graph elements.

One registry, read by the importer, the dump, both stores and the docs: a table is either
a *node table* (rows have an ``id`` and become nodes of one label) or a *link table* (rows
become relationships between two existing nodes, keyed by their natural key).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from grassroots.schema.area import Area
from grassroots.schema.base import Row
from grassroots.schema.dispatch import Dispatch
from grassroots.schema.elements import Label, Link, Node, Props, RelType
from grassroots.schema.household import Contact, Household
from grassroots.schema.pairing import Pairing, Project
from grassroots.schema.party_org import PartyOrg
from grassroots.schema.person import Person
from grassroots.schema.post import Post, Report
from grassroots.schema.unit import Employment, Unit


@dataclass(frozen=True)
class Ref:
    """A ``*_id`` column: it names a row of ``target`` and becomes a ``rel`` relationship."""

    column: str
    rel: RelType
    target: str


@dataclass(frozen=True)
class Table:
    name: str
    zh: str
    model: type[Row]
    refs: tuple[Ref, ...]
    label: Label | None = None  # node tables
    rel: RelType | None = None  # link tables: (refs[0])-[rel]->(refs[1])
    key: tuple[str, ...] = ()  # link tables: the columns that tell two links apart

    @property
    def is_node(self) -> bool:
        return self.label is not None

    def columns(self) -> dict[str, str]:
        """English column name -> Chinese alias, in the contract's order."""
        out: dict[str, str] = {}
        for name, info in self.model.model_fields.items():
            extra = info.json_schema_extra
            out[name] = str(extra.get("zh", "")) if isinstance(extra, dict) else ""
        return out

    def required(self) -> list[str]:
        return [n for n, info in self.model.model_fields.items() if info.is_required()]

    def key_of(self, values: dict[str, Any]) -> str:
        """A link's natural key from its row's values (cells as the ledger holds them)."""
        return "|".join(str(values.get(column) or "") for column in self.key)

    def to_element(self, row: Row, extra: Props | None = None) -> Node | Link:
        """The node or link a validated row becomes; ``extra`` holds kept unknown columns."""
        values = row.model_dump(mode="json", exclude_none=True)
        key = self.key_of(values)
        ends = [values.pop(ref.column, None) for ref in self.refs]
        props: Props = {**extra, **values} if extra else values
        if self.label is not None:
            refs = {ref.rel: end for ref, end in zip(self.refs, ends, strict=True) if end}
            return Node(self.label, props, refs)
        assert self.rel is not None
        start, end = ends
        return Link(self.rel, start, end, key, props)

    def to_cells(self, element: Node | Link) -> dict[str, Any]:
        """The ledger cells an element came from: the inverse of ``to_element``."""
        cells: dict[str, Any] = dict(element.props)
        if isinstance(element, Node):
            for ref in self.refs:
                if ref.rel in element.refs:
                    cells[ref.column] = element.refs[ref.rel]
        else:
            cells[self.refs[0].column] = element.start
            cells[self.refs[1].column] = element.end
        return cells


TABLES: tuple[Table, ...] = (
    Table("areas", "区域", Area, (Ref("parent_id", RelType.WITHIN, "areas"),), Label.AREA),
    Table(
        "party_orgs",
        "党组织",
        PartyOrg,
        (
            Ref("parent_id", RelType.UNDER, "party_orgs"),
            Ref("area_id", RelType.BUILT_ON, "areas"),
        ),
        Label.PARTY_ORG,
    ),
    Table("units", "单位", Unit, (Ref("area_id", RelType.LOCATED_IN, "areas"),), Label.UNIT),
    Table("people", "人员", Person, (), Label.PERSON),
    Table(
        "posts",
        "职务",
        Post,
        (
            Ref("person_id", RelType.HOLDS_POST, "people"),
            Ref("org_id", RelType.HOLDS_POST, "party_orgs"),
        ),
        rel=RelType.HOLDS_POST,
        key=("person_id", "org_id", "post", "since"),
    ),
    Table(
        "employments",
        "任职单位",
        Employment,
        (
            Ref("person_id", RelType.EMPLOYED_BY, "people"),
            Ref("unit_id", RelType.EMPLOYED_BY, "units"),
        ),
        rel=RelType.EMPLOYED_BY,
        key=("person_id", "unit_id", "since"),
    ),
    Table(
        "households",
        "住户",
        Household,
        (Ref("building_id", RelType.IN_BUILDING, "areas"),),
        Label.HOUSEHOLD,
    ),
    Table(
        "contacts",
        "党员联系户",
        Contact,
        (
            Ref("person_id", RelType.CONTACTS, "people"),
            Ref("household_id", RelType.CONTACTS, "households"),
        ),
        rel=RelType.CONTACTS,
        key=("person_id", "household_id", "since"),
    ),
    Table(
        "pairings",
        "结对共建",
        Pairing,
        (
            Ref("unit_id", RelType.WITH_UNIT, "units"),
            Ref("org_id", RelType.WITH_ORG, "party_orgs"),
            Ref("responsible_id", RelType.LED_BY, "people"),
        ),
        Label.PAIRING,
    ),
    Table(
        "projects",
        "共建项目",
        Project,
        (Ref("pairing_id", RelType.FOR_PAIRING, "pairings"),),
        Label.PROJECT,
    ),
    Table(
        "dispatches",
        "选派干部",
        Dispatch,
        (
            Ref("person_id", RelType.OF_PERSON, "people"),
            Ref("unit_id", RelType.SENT_BY, "units"),
            Ref("area_id", RelType.SENT_TO, "areas"),
        ),
        Label.DISPATCH,
    ),
    Table(
        "reports",
        "在职党员报到",
        Report,
        (
            Ref("person_id", RelType.REPORTS_TO, "people"),
            Ref("org_id", RelType.REPORTS_TO, "party_orgs"),
        ),
        rel=RelType.REPORTS_TO,
        key=("person_id", "org_id", "since"),
    ),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
BY_LABEL: dict[Label, Table] = {t.label: t for t in TABLES if t.label is not None}
BY_LINK: dict[RelType, Table] = {t.rel: t for t in TABLES if t.rel is not None}
REFERENCE_TYPES: frozenset[RelType] = frozenset(
    ref.rel for t in TABLES if t.is_node for ref in t.refs
)


def table_named(name: str) -> Table | None:
    """The table a file or sheet names, in English (any case) or Chinese."""
    text = name.strip()
    for table in TABLES:
        if text.lower() == table.name or text == table.zh:
            return table
    return None


def references() -> Iterator[tuple[Table, Ref]]:
    for table in TABLES:
        for ref in table.refs:
            yield table, ref


def _dated(table: Table) -> bool:
    from grassroots.schema.base import Dated

    return issubclass(table.model, Dated)


DATED_LABELS: frozenset[Label] = frozenset(
    t.label for t in TABLES if t.label is not None and _dated(t)
)
DATED_RELS: frozenset[RelType] = frozenset(t.rel for t in TABLES if t.rel is not None and _dated(t))
"""What has ``since``/``until``: it counts in a query only when active on the day asked."""
