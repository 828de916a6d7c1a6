"""Durable storage of probes, rollups and model profiles, on SQLite or PostgreSQL.

``open_store(url)`` gives a ``Store`` (the interface, ``monitor.store.base``); ``SQLStore``
(``monitor.store.sql``) implements it with SQLAlchemy Core, the tables are in
``monitor.store.schema`` and the schema changes are Alembic migrations in
``monitor/store/migrations``.
"""

from __future__ import annotations

from monitor.store.base import Store, WindowPoint
from monitor.store.sql import SQLStore

__all__ = ["SQLStore", "Store", "WindowPoint", "open_store"]


def open_store(url: str) -> Store:
    """The store at ``url`` (``sqlite:///PATH`` or ``postgresql+psycopg://...``), unconnected."""
    return SQLStore(url)
