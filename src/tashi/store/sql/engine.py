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

:func:`memory_engine` makes the engine of the pickle store (:mod:`tashi.store.picklefile`):
a private in-memory sqlite database whose changes a hook saves before each commit.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, Engine, QueuePool, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 5000
WRITE = "tashi_write"  # execution option: this connection's transactions will write
SQLITE_POOL_SIZE = 40
_CHANGES = "tashi_changes"  # connection info: sqlite's total_changes when its transaction began


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


def memory_engine(before_commit: Callable[[Connection], None]) -> Engine:
    """An engine on a new, private, in-memory sqlite database (gone once disposed of).

    It has one connection, used from any thread but by one transaction at a time: a
    transaction waits (without limit) for the one before it to end, so the stores'
    methods run one after another. ``before_commit(connection)`` runs last inside
    every transaction that changed a row, on its connection; if it raises, the
    transaction rolls back instead of committing, and the error propagates.
    """
    engine = create_engine("sqlite://", poolclass=QueuePool, pool_size=1, max_overflow=0,
                           pool_timeout=None, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "begin", _count_changes)
    event.listen(engine, "commit", functools.partial(_if_changed, before_commit))
    return engine


def _count_changes(conn: Connection) -> None:
    conn.info[_CHANGES] = _total_changes(conn)


def _if_changed(before_commit: Callable[[Connection], None], conn: Connection) -> None:
    if _total_changes(conn) != conn.info.get(_CHANGES):
        before_commit(conn)


def _total_changes(conn: Connection) -> int:
    """Rows inserted, updated or deleted on ``conn``'s sqlite connection since it opened."""
    dbapi: Any = conn.connection.dbapi_connection
    return int(dbapi.total_changes)


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

    def __init__(self, engine: Engine,
                 first: Callable[[Session], None] | None = None) -> None:
        """``first``: run at the start of every write transaction (the fence check of
        :mod:`tashi.store.fencing`); what it raises ends the transaction, rolled back."""
        super().__init__(engine.execution_options(**{WRITE: True}), expire_on_commit=False)
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext())
        self._first = first

    @contextlib.contextmanager
    def begin(self) -> Iterator[Session]:
        with self._lock, super().begin() as session:
            if self._first is not None:
                self._first(session)
            yield session
