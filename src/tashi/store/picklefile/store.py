"""The pickle store: the SQL store on an in-memory sqlite database, saved to one file.

For tiny installs. It *is* :class:`~tashi.store.sql.SqlStore` (every method, every
rule of the contract is the SQL store's; a new entity or field is written once),
on a private in-memory database (:func:`tashi.store.sql.engine.memory_engine`):

- at open, the database gets the file's rows (:mod:`tashi.store.picklefile.rows`) and
  is migrated to the newest schema by the SQL store's own Alembic scripts; a file of
  the older format (a :mod:`tashi.store.transfer` document) is restored into it; a
  missing file is a new, empty store;
- every transaction that changes a row saves all rows to the file, atomically
  (:mod:`tashi.store.picklefile.file`), *before* it commits: if the save fails (a
  full disk), the transaction rolls back and the error propagates, so a failed write
  changes nothing, in memory or on disk;
- the database has one connection, so the store's transactions (reads too) run one
  at a time: that is the store's lock.

Writes cost a rewrite of the whole file: fine for tens of hosts and hundreds of
instances, not for more; use PostgreSQL there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import StatementError

from tashi.domain.errors import InvalidInput
from tashi.store.base import Snapshot
from tashi.store.picklefile import rows
from tashi.store.picklefile.file import StateFile
from tashi.store.sql.engine import memory_engine
from tashi.store.sql.migrate import alembic_config, known_revisions
from tashi.store.sql.store import SqlStore, utcnow
from tashi.store.transfer import from_document


class PickleStore(SqlStore):
    """A :class:`~tashi.store.base.Store` in the file at ``path`` (created if missing).

    Raises :class:`~tashi.domain.errors.Conflict` if another store holds the file, and
    :class:`~tashi.domain.errors.InvalidInput` if the file is not one of ours (or was
    saved by a newer Tashi).
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._file = StateFile(path)
        self._saving = False  # not while the file's own content is loaded
        engine = memory_engine(before_commit=self._save)
        try:
            saved = self._file.load()
            older = _fill(engine, saved, str(path))
            super().__init__(engine, clock=clock)
            if older is not None:
                self.restore(older)
            self._saving = True
            if saved is None:
                with self._engine.connect() as connection:
                    self._save(connection)
        except BaseException:
            engine.dispose()
            self._file.close()
            raise

    def close(self) -> None:
        """Let the transaction under way (if any) end, drop the database, release the file."""
        try:
            with self._engine.connect():  # waits for the one connection
                pass
            super().close()
        finally:
            self._file.close()

    def _save(self, connection: Connection) -> None:
        """Save the database as ``connection``'s transaction, about to commit, leaves it."""
        if self._saving:
            self._file.save(rows.dump(connection))


def _fill(engine: Engine, saved: Any, source: str) -> Snapshot | None:
    """Give the new database of ``engine`` the newest schema and the rows of ``saved``
    (what the file held, or None). A document of the older format is returned instead,
    as the snapshot to restore once the store is open."""
    if isinstance(saved, dict) and saved.get("format") == rows.FORMAT:
        _load_rows(engine, saved, source)
        return None
    _upgrade(engine, "head")
    return None if saved is None else from_document(saved, source=source)


def _load_rows(engine: Engine, doc: rows.Doc, source: str) -> None:
    at = doc.get("schema")
    if at not in known_revisions():
        raise InvalidInput(f"{source}: a pickle store of schema {at!r}, which this Tashi does "
                           f"not know (its newest is {known_revisions()[0]}): run a newer Tashi")
    try:
        _upgrade(engine, at)
        with engine.begin() as connection:
            rows.load(connection, doc)
        _upgrade(engine, "head")  # the file's rows, migrated as any SQL store's
    except (KeyError, TypeError, ValueError, AttributeError, StatementError) as exc:
        raise InvalidInput(f"{source}: malformed pickle store: "
                           f"{type(exc).__name__}: {exc}") from exc


def _upgrade(engine: Engine, revision: str) -> None:
    """Migrate the database of ``engine`` to ``revision`` with the SQL store's Alembic
    scripts (as :func:`tashi.store.sql.migrate.migrate` does a database at a URL)."""
    config = alembic_config(engine.url.render_as_string())
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
