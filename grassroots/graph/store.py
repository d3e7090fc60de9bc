"""The ``Store`` protocol: what the importer, the dump and the queries need of a store.

Both stores hold the same graph (see ``grassroots.schema.elements``) and must give
identical answers; the conformance suite in ``tests/`` runs every test on both.

Concurrency, the same on both: a reader answers a request or a report from one
consistent snapshot (``snapshot()``), and an import reads what is stored, checks, diffs
and writes inside one critical section (``exclusive()``), so two imports run one after
the other however they are started.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
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

    def snapshot(self) -> Store:
        """This store as seen from one consistent snapshot, for one request or report
        (the store itself where every read already sees one committed state)."""
        ...

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        """The writers' critical section, across processes: held by an import from before
        it reads what is stored until its write has committed. Waits up to ``timeout``
        seconds (default: the store's ``GRASSROOTS_LOCK_SECONDS``) for another import,
        then raises ``StoreBusy``."""
        ...

    def reset(self) -> None:
        """Empty the store (inside ``exclusive()``)."""
        ...

    def close(self) -> None: ...


def busy_message(holder: dict[str, Any], waited: float) -> str:
    """What an import that gave up waiting tells its user; ``holder`` holds what the
    lock's holder recorded: ``since`` (epoch seconds), ``host`` and ``pid``."""
    who = "another import is writing to this store"
    if holder.get("since"):
        since = datetime.fromtimestamp(float(holder["since"])).strftime("%H:%M")
        who += f" since {since} ({holder.get('host', '?')}, pid {holder.get('pid', '?')})"
    return (
        f"{who}; wait for it to finish and run this import again"
        f" (waited {waited:g} s; GRASSROOTS_LOCK_SECONDS sets how long)"
    )


def checkpoint(point: str) -> None:
    """TEST-ONLY pause points for the concurrency tests (``tests/test_concurrency.py``).

    With ``GRASSROOTS_TEST_HOOKS`` naming a folder, reaching ``point`` creates
    ``FOLDER/POINT.reached``, and while ``FOLDER/POINT.pause`` exists the process waits
    there (at most 120 s). The points: ``checked`` (an import has checked and diffed,
    inside its critical section, before writing), ``writing`` (inside a store's write
    transaction) and ``busy`` (an import found another holding the critical section).
    Unset, as everywhere outside those tests, this does nothing."""
    folder = os.environ.get("GRASSROOTS_TEST_HOOKS")
    if not folder:
        return
    base = Path(folder)
    (base / f"{point}.reached").touch()
    pause, deadline = base / f"{point}.pause", time.monotonic() + 120
    while pause.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
