"""The link path in GraphQL: the same search as ``grassroots path``
(``grassroots.queries.paths``). Its nodes are the nouns' own types, so a person on a
path is masked as everywhere else."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from grassroots.api.nodes import (
    VIEWS,
    Area,
    Dispatch,
    Household,
    I,
    Pairing,
    PartyOrg,
    Person,
    Project,
    Unit,
    day_of,
)
from grassroots.graph.store import Store
from grassroots.queries import paths

PathNode = Annotated[
    Area | PartyOrg | Unit | Person | Household | Pairing | Project | Dispatch,
    strawberry.union("PathNode"),
]


@strawberry.type(description="One property of a step's relationship (a post's post, ...).")
class StepProperty:
    name: str
    value: str


@strawberry.type(
    description="One relationship of a link path, joining nodes[i] (fromId) and "
    "nodes[i + 1] (toId); forward when it points from fromId to toId."
)
class PathStep:
    from_id: strawberry.ID
    to_id: strawberry.ID
    type: str = strawberry.field(description="The relationship type: HOLDS_POST, WITHIN, ...")
    type_zh: str
    forward: bool
    since: date | None
    until: date | None
    properties: list[StepProperty] = strawberry.field(
        description="The relationship's other properties, as text, by name."
    )


@strawberry.type(
    description="The shortest chain of relationships active on asOf that joins two "
    "nodes; nodes and steps are empty when none was found within maxHops."
)
class LinkPath:
    as_of: date
    found: bool
    hops: int | None
    max_hops: int
    cut: bool = strawberry.field(
        description="A bound on the search cut it short: a shorter chain, or one where "
        "none was found, may exist."
    )
    nodes: list[PathNode]
    steps: list[PathStep]


def _search(store: Store, from_id: str, to_id: str, as_of: date | None) -> paths.LinkPath:
    start = paths.resolve_end(store, from_id, "fromId")
    end = paths.resolve_end(store, to_id, "toId")
    return paths.link_path(store, start, end, as_of)


async def link_path(info: I, from_id: str, to_id: str, as_of: date | None) -> LinkPath:
    # The search reads hop by hop, each hop one batched read, and builds its networkx
    # graph as it goes: it runs whole off the event loop, on the request's snapshot.
    loaders = info.context.loaders
    found = await loaders.call(lambda store: _search(store, from_id, to_id, as_of))
    for node in found.nodes:  # the path's nodes are read: their fields start from them
        loaders.node.prime(node.id, node)
    steps = []
    for i, step in enumerate(found.steps):
        here, there = found.nodes[i].id, found.nodes[i + 1].id
        rest = {k: v for k, v in step.props.items() if k not in ("since", "until")}
        steps.append(
            PathStep(
                from_id=strawberry.ID(here),
                to_id=strawberry.ID(there),
                type=step.rel.value,
                type_zh=paths.VERBS[step.rel],
                forward=step.start == here,
                since=day_of(step.props.get("since")),
                until=day_of(step.props.get("until")),
                properties=[StepProperty(name=k, value=str(v)) for k, v in sorted(rest.items())],
            )
        )
    return LinkPath(
        as_of=found.as_of,
        found=found.found,
        hops=len(found.steps) if found.found else None,
        max_hops=found.max_hops,
        cut=found.cut,
        nodes=[VIEWS[node.label](node=node) for node in found.nodes],
        steps=steps,
    )
