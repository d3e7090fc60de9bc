"""The tree checks the importer runs (``grassroots.importers.trees``): their doctests,
and the cases a ledger meets that the importer's tests do not reach one by one."""

from __future__ import annotations

import doctest

from grassroots.importers import trees


def test_doctests() -> None:
    result = doctest.testmod(trees)
    assert result.attempted > 0 and result.failed == 0


def test_each_cycle_is_reported_once_from_its_first_start() -> None:
    graph = trees.parent_graph(
        {"a": "b", "b": "a", "x": "y", "y": "z", "z": "x", "leaf": "y", "root": None}
    )
    assert trees.cycles(graph, ["leaf", "a", "x", "root"]) == [
        ["y", "z", "x", "y"],
        ["a", "b", "a"],
    ]


def test_a_cycle_no_start_reaches_is_left_alone() -> None:
    graph = trees.parent_graph({"a": "b", "b": "a", "c": None})
    assert trees.cycles(graph, ["c"]) == []


def test_a_parent_the_graph_does_not_hold_is_a_root() -> None:
    graph = trees.parent_graph({"grid": "missing"})
    assert trees.cycles(graph, ["grid"]) == []
    assert trees.out_of_order(graph, {"grid": 4}) == []
