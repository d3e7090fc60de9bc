"""Checks of the two trees a ledger lays down: areas within areas (``WITHIN``) and party
orgs under party orgs (``UNDER``). Pure functions of a networkx graph, so the importer
states *what* must hold and networkx finds where it does not.

Glossary
--------
parent graph
    A directed graph with an edge from each node to its parent (child -> parent), so
    every node has at most one successor. Built by ``parent_graph``.
root
    A node without a parent (no successor): the city, a top-level committee, or a node
    whose parent the graph does not hold.
cycle
    A closed walk up the parents, ``[a, b, ..., a]``: a node that, parent after parent,
    lies within itself. In a parent graph each node reaches at most one cycle.
rank
    A number per node that must strictly fall from parent to child (an area kind's
    level: city 0 ... building 5). A node without a rank is not checked.
out of order
    An edge whose parent's rank is not below its child's.

Examples
--------
>>> G = parent_graph({"grid": "community", "community": "grid", "building": "grid"})
>>> cycles(G, ["building"])
[['grid', 'community', 'grid']]
>>> cycles(parent_graph({"a": "a"}), ["a"])
[['a', 'a']]
>>> cycles(parent_graph({"grid": "community", "community": None}), ["grid"])
[]
>>> ranks = {"district": 1, "grid": 4, "building": 5}
>>> out_of_order(parent_graph({"district": "grid", "building": "grid"}), ranks)
[('district', 'grid')]
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import TypeVar

import networkx as nx

N = TypeVar("N", bound=Hashable)


def parent_graph(parents: Mapping[N, N | None]) -> nx.DiGraph[N]:
    """The parent graph of ``node -> parent`` (None for a root), its nodes in the
    mapping's order, so that whatever iterates it does so in that order.

    >>> sorted(parent_graph({"grid": "community", "community": None}).edges)
    [('grid', 'community')]
    """
    graph: nx.DiGraph[N] = nx.DiGraph()
    graph.add_nodes_from(parents)
    graph.add_edges_from((node, parent) for node, parent in parents.items() if parent is not None)
    return graph


def cycles(graph: nx.DiGraph[N], starts: Iterable[N]) -> list[list[N]]:
    """Every cycle that some node of ``starts`` reaches walking up its parents, once,
    closed (``[a, b, a]``) and read from the node where the walk of the first start that
    reaches it enters it; in the order of those first starts.

    A cycle no start reaches is not reported: the importer asks only about what a
    bundle changes, and what is stored was checked when it was imported.

    >>> G = parent_graph({"x": "a", "a": "b", "b": "c", "c": "a", "y": "c"})
    >>> cycles(G, ["y", "x"])
    [['c', 'a', 'b', 'c']]
    >>> cycles(G, ["x", "y"])
    [['a', 'b', 'c', 'a']]
    """
    order = {node: i for i, node in enumerate(dict.fromkeys(starts)) if node in graph}
    found: list[tuple[int, list[N]]] = []
    for component in nx.strongly_connected_components(graph):
        first = next(iter(component))
        if len(component) == 1 and not graph.has_edge(first, first):
            continue
        reaching = (nx.ancestors(graph, first) | component) & order.keys()
        if not reaching:
            continue
        start = min(reaching, key=order.__getitem__)
        # the unique walk up from start; its first node on the cycle is where it enters
        entry = next(n for n in nx.shortest_path(graph, start, first) if n in component)
        closed = [entry]
        for _ in component:
            (parent,) = graph.successors(closed[-1])
            closed.append(parent)
        found.append((order[start], closed))
    return [cycle for _, cycle in sorted(found, key=lambda item: item[0])]


def out_of_order(
    graph: nx.DiGraph[N], rank: Mapping[N, int], among: Collection[N] | None = None
) -> list[tuple[N, N]]:
    """The edges ``(child, parent)`` whose parent's rank is not below the child's, where
    both have a rank and, if ``among`` is given, the child or the parent is among it;
    in the graph's node order.

    >>> G = parent_graph({"b": "g", "g": "k", "k": None})
    >>> out_of_order(G, {"b": 5, "g": 5, "k": 3})
    [('b', 'g')]
    >>> out_of_order(G, {"b": 5, "g": 5, "k": 3}, among={"k"})
    []
    """
    return [
        (child, parent)
        for child, parent in graph.edges
        if child in rank
        and parent in rank
        and (among is None or child in among or parent in among)
        and rank[parent] >= rank[child]
    ]
