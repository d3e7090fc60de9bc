"""The ``Store`` protocol: what the importer, the dump and the queries need of a store.

Both stores hold the same graph (see ``grassroots.schema.elements``) and must give
identical answers; the conformance suite in ``tests/`` runs every test on both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from grassroots.progress import Progress, silent
from grassroots.schema import Label, Link, Node, Props, RelType


@dataclass
class Changes:
    """What one import writes, in one transaction as far as the store can hold it (see
    ``Neo4jStore``): nodes replace their stored version (properties and references),
    links are upserted by ``(type, key)``.

    ``new`` holds the ids, and ``new_links`` the keys, that the diff found absent from
    the store: a store may create those outright instead of looking them up first."""

    nodes: list[Node] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    new: set[str] = field(default_factory=set)
    new_links: set[tuple[RelType, str]] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.links)


Direction = Literal["out", "in"]
Neighbour = tuple[str, Props]  # the node at the other end, and the relationship's properties


def neighbour_order(neighbour: Neighbour) -> tuple[str, bytes]:
    """The one order both stores list neighbours in: by node, then by properties."""
    other, props = neighbour
    return other, orjson.dumps(props, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Page:
    """One page of nodes in id order, and how many match in all."""

    nodes: list[Node]
    total: int


@dataclass(frozen=True)
class TreeEntry:
    parent: str | None
    kind: str | None


class Store(Protocol):
    name: str

    def nodes(self, ids: Collection[str]) -> dict[str, Node]:
        """The stored nodes among ``ids``, with their references."""
        ...

    def links(self, keys: Collection[tuple[RelType, str]]) -> dict[tuple[RelType, str], Link]:
        """The stored links among ``(type, key)`` pairs."""
        ...

    def neighbours(
        self, ids: Collection[str], rel: RelType, direction: Direction
    ) -> dict[str, list[Neighbour]]:
        """For each of ``ids``, the nodes along ``rel`` (out of it or into it), by id."""
        ...

    def find(
        self,
        label: Label,
        where: dict[str, Any] | None = None,
        search: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Nodes of ``label`` matching the filters (``grassroots.queries.filters``) whose
        name contains ``search`` (any case), in id order after ``after``."""
        ...

    def tree(self, label: Label) -> dict[str, TreeEntry]:
        """Every node of ``label`` with its parent (WITHIN / UNDER) and ``kind``."""
        ...

    def write(self, changes: Changes, progress: Progress = silent) -> None:
        """Apply all of ``changes`` in one transaction, or none of it."""
        ...

    def elements(self) -> Iterator[Node | Link]:
        """The whole graph: every node, then every link (for export)."""
        ...

    def counts(self) -> dict[str, int]:
        """Nodes per label and links per type, only those present."""
        ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
