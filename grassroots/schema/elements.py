"""The graph's vocabulary: node labels, relationship types, and the two element shapes.

Every ledger row with an ``id`` becomes a node; its ``*_id`` columns become relationships
out of it (*references*); the rows of the four link tables become relationships with
properties (*links*), told apart by a natural ``key``. These enums are the only place a
label or relationship type is spelled: Cypher takes them from here, never from input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

Props = dict[str, Any]


class Label(StrEnum):
    AREA = "Area"
    PARTY_ORG = "PartyOrg"
    UNIT = "Unit"
    PERSON = "Person"
    HOUSEHOLD = "Household"
    PAIRING = "Pairing"
    PROJECT = "Project"
    DISPATCH = "Dispatch"


class RelType(StrEnum):
    # references: (row)-[TYPE]->(the node its *_id column names)
    WITHIN = "WITHIN"  # area -> parent area
    UNDER = "UNDER"  # party org -> parent party org
    BUILT_ON = "BUILT_ON"  # party org -> area it is built on (建在…上)
    LOCATED_IN = "LOCATED_IN"  # unit -> area
    IN_BUILDING = "IN_BUILDING"  # household -> building
    WITH_UNIT = "WITH_UNIT"  # pairing -> unit
    WITH_ORG = "WITH_ORG"  # pairing -> party org
    LED_BY = "LED_BY"  # pairing -> responsible leader
    FOR_PAIRING = "FOR_PAIRING"  # project -> pairing
    OF_PERSON = "OF_PERSON"  # dispatch -> cadre
    SENT_BY = "SENT_BY"  # dispatch -> unit
    SENT_TO = "SENT_TO"  # dispatch -> village or community
    # links: rows of the link tables, person -> org/unit/household
    HOLDS_POST = "HOLDS_POST"
    EMPLOYED_BY = "EMPLOYED_BY"
    CONTACTS = "CONTACTS"
    REPORTS_TO = "REPORTS_TO"


@dataclass(frozen=True)
class Node:
    """A node: its label, its properties (``id`` among them) and its references."""

    label: Label
    props: Props
    refs: dict[RelType, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.props["id"])


@dataclass(frozen=True)
class Link:
    """A relationship row of a link table; ``key`` tells apart two links of one type."""

    type: RelType
    start: str
    end: str
    key: str
    props: Props = field(default_factory=dict)
