"""Bring a database's schema up to date: ``alembic upgrade head``, run from code.

The Alembic scripts ship inside the package (``tashi/store/migrations``); no
``alembic.ini`` is needed. A sqlite database file (and its directory) is created
if missing, so a fresh data directory gets its schema on first start.

:func:`check_schema` is what a store runs when it opens a database: it refuses one
whose schema is not the newest this Tashi knows (not migrated yet, or migrated by a
newer Tashi).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, make_url, text

from tashi.common.files import private_dir, private_file
from tashi.domain.errors import Unavailable
from tashi.store.sql.engine import WRITE, make_engine

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).resolve().parent.parent / "migrations"
LOCK = 0x7461736869  # PostgreSQL advisory lock key held while migrating ("tashi")


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url``, built in code."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Upgrade the database at ``url`` to the newest schema (a no-op if it is there)."""
    _ensure_sqlite_directory(url)
    config = alembic_config(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE: True})  # sqlite: BEGIN IMMEDIATE
            with connection.begin():
                if connection.dialect.name == "postgresql":  # one replica migrates at a time
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
    finally:
        engine.dispose()
    log.info("store schema at %s is up to date", make_url(url).render_as_string())


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """The schema revisions this Tashi knows, newest first."""
    scripts = ScriptDirectory.from_config(alembic_config(""))
    return tuple(r.revision for r in scripts.walk_revisions())


def check_schema(engine: Engine) -> None:
    """Raise :class:`Unavailable` unless the database of ``engine`` is at the newest schema.

    Unavailable (retryable): during an upgrade another replica may be migrating it.
    """
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    known = known_revisions()
    if current == known[0]:
        return
    where = engine.url.render_as_string()  # the password is masked
    if current is not None and current not in known:
        raise Unavailable(f"the store at {where} has schema revision {current}, newer than "
                          f"this Tashi knows ({known[0]}): run a newer Tashi")
    raise Unavailable(
        f"the store at {where} has schema revision {current or '(none)'}, this Tashi "
        f"needs {known[0]}: run `tashi-manager --migrate` (with the same --db-url) first"
    )


def _ensure_sqlite_directory(url: str) -> None:
    """The database file of a sqlite ``url`` exists, readable by its owner only (0600,
    whatever the umask; its directory, if made here, 0700); so are its ``-wal`` and
    ``-shm`` if present (sqlite makes them later with the database's mode)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # a URI filename: leave it to sqlite
    path = Path(database).expanduser()
    if not path.parent.is_dir():
        private_dir(path.parent)
    private_file(path)
    for extra in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + extra)
        if companion.exists():
            private_file(companion)
