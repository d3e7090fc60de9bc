"""The domain's nouns: one module each, pydantic models as the single source of truth."""

from grassroots.schema.account import Account, Role, Token
from grassroots.schema.area import Area, AreaKind
from grassroots.schema.base import Choice, Dated, Row
from grassroots.schema.dispatch import Dispatch, DispatchRole
from grassroots.schema.elements import Label, Link, Node, Props, RelType
from grassroots.schema.household import Contact, Household
from grassroots.schema.pairing import Pairing, Project, ProjectStatus
from grassroots.schema.party_org import OrgCategory, OrgForm, PartyOrg
from grassroots.schema.person import PERSONAL, Education, Gender, Person, hide_personal, mask
from grassroots.schema.post import Post, PostKind, Report
from grassroots.schema.tables import BY_LABEL, BY_LINK, BY_NAME, TABLES, Ref, Table, table_named
from grassroots.schema.unit import Employment, Unit, UnitKind, UnitLevel

__all__ = [
    "BY_LABEL",
    "BY_LINK",
    "BY_NAME",
    "PERSONAL",
    "TABLES",
    "Account",
    "Area",
    "AreaKind",
    "Choice",
    "Contact",
    "Dated",
    "Dispatch",
    "DispatchRole",
    "Education",
    "Employment",
    "Gender",
    "Household",
    "Label",
    "Link",
    "Node",
    "OrgCategory",
    "OrgForm",
    "Pairing",
    "PartyOrg",
    "Person",
    "Post",
    "PostKind",
    "Project",
    "ProjectStatus",
    "Props",
    "Ref",
    "RelType",
    "Report",
    "Role",
    "Row",
    "Table",
    "Token",
    "Unit",
    "UnitKind",
    "UnitLevel",
    "hide_personal",
    "mask",
    "table_named",
]
