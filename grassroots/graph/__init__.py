"""The stores, one protocol: ``DuckStore`` (the embedded store, ``local``, on DuckDB; the
default) and ``Neo4jStore``."""

from __future__ import annotations

from grassroots.graph.store import Changes, Store, TreeEntry
from grassroots.settings import Settings, StoreKind


def open_store(settings: Settings) -> Store:
    """The store the settings name, opened and ready."""
    if settings.store is StoreKind.NEO4J:
        from grassroots.graph.neo4j import Neo4jStore

        return Neo4jStore.from_settings(settings)
    from grassroots.graph.duck import DuckStore

    return DuckStore(settings.data, settings.lock_seconds)


__all__ = ["Changes", "Store", "TreeEntry", "open_store"]
