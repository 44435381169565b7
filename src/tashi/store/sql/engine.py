"""Engines for the SQL store, configured the same way for the store and migrations.

sqlite gets WAL (readers never block the writer), a busy timeout (a writer waits
for another instead of failing at once), enforced foreign keys, and explicit
transaction control: pysqlite's own BEGIN handling is switched off and we emit
``BEGIN`` ourselves, or ``BEGIN IMMEDIATE`` on a connection marked for writing,
so that concurrent writers queue on the database lock up front instead of failing
with "database is locked" when a read transaction tries to become a write.
Within one process, sqlite writers also queue on a lock of ours first
(:class:`WriteSessions`): sqlite's own busy handler waits by sleeping and retrying,
which under many writers leaves the database idle while they sleep.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 5000
WRITE = "tashi_write"  # execution option: this connection's transactions will write
SQLITE_POOL_SIZE = 40


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (sqlite or PostgreSQL), configured for Tashi."""
    if make_url(url).get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    # Connections kept open for every thread of the API's pool (40): opening one
    # costs more than most queries (the PRAGMAs below).
    engine = create_engine(url, connect_args={"check_same_thread": False},
                           pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_SIZE)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    writes = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class WriteSessions(sessionmaker[Session]):
    """Sessions for writing; on sqlite, one write transaction at a time in this
    process (PostgreSQL's writers lock rows, not the database: they run at once)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext())

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:
        with self._lock, super().begin() as session:
            yield session
