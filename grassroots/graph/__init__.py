"""The stores: ``MemoryStore`` (embedded, the default), ``DuckStore`` (embedded, on
DuckDB) and ``Neo4jStore``, one protocol."""

from __future__ import annotations

from grassroots.graph.store import Changes, Store, TreeEntry
from grassroots.settings import Settings, StoreKind


def open_store(settings: Settings) -> Store:
    """The store the settings name, opened and ready. An embedded DuckDB store that a
    live ``grassroots serve`` holds is that server's, through ``ServedStore``."""
    if settings.store is StoreKind.NEO4J:
        from grassroots.graph.neo4j import Neo4jStore

        return Neo4jStore.from_settings(settings)
    if settings.store is StoreKind.DUCKDB:
        from grassroots.graph.duck import DuckStore
        from grassroots.graph.served import HandOff, ServedStore, handing_off, running

        server = running(settings.data)
        if server is None:
            try:
                return DuckStore(settings.data, settings.lock_seconds, handing_off(settings.data))
            except HandOff as found:  # a serve took the file while this waited for it
                server = found.server
        return ServedStore(server, settings.lock_seconds)
    from grassroots.graph.memory import MemoryStore

    return MemoryStore(settings.data, settings.lock_seconds)


__all__ = ["Changes", "Store", "TreeEntry", "open_store"]
