"""The SQL store (sqlite and PostgreSQL, SQLAlchemy 2, Alembic migrations).

::

    store = open_store("sqlite:////var/lib/tashi/tashi.db")  # migrates, then opens
"""

from __future__ import annotations

from tashi.store.sql.migrate import migrate
from tashi.store.sql.store import SqlStore

__all__ = ["SqlStore", "migrate", "open_store"]


def open_store(url: str) -> SqlStore:
    """Bring the database at ``url`` up to the newest schema, then open a store on it."""
    migrate(url)
    return SqlStore(url)
