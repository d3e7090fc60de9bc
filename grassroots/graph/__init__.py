"""The stores, one protocol: ``DuckStore`` (the embedded store, ``local``, on DuckDB; the
default) and ``Neo4jStore``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from grassroots.graph.store import Changes, Store, TreeEntry
from grassroots.settings import Settings, StoreKind


def _log(notice: str) -> None:
    logging.getLogger("grassroots").warning(notice)


def open_store(settings: Settings, notice: Callable[[str], None] = _log) -> Store:
    """The store the settings name, opened and ready. An embedded store that a live
    ``grassroots serve`` holds is that server's, through ``ServedStore``; an embedded
    store of an earlier version in the folder is moved into it first, and ``notice`` told
    what moved; a Neo4j server found without NEO4J_URI (``make neo4j-start``'s) is named
    to ``notice`` too."""
    if settings.store is StoreKind.NEO4J:
        from grassroots.graph.neo4j import Neo4jStore

        if found := settings.neo4j_found():
            notice(found)
        return Neo4jStore.from_settings(settings)
    from grassroots.graph.duck import DuckStore
    from grassroots.graph.migrate import migrate
    from grassroots.graph.serve_file import HandOff, handing_off, running

    server = running(settings.data)
    if server is None:
        if moved := migrate(settings.data, settings.lock_seconds):
            notice(moved.notice())
        try:
            return DuckStore(settings.data, settings.lock_seconds, handing_off(settings.data))
        except HandOff as found:  # a serve took the file while this waited for it
            server = found.server
    from grassroots.graph.served import ServedStore

    return ServedStore(server, settings.lock_seconds)


__all__ = ["Changes", "Store", "TreeEntry", "open_store"]
