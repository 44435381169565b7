"""Bring a database's schema up to date: ``alembic upgrade head``, run from code.

The Alembic scripts ship inside the package (``tashi/store/migrations``); no
``alembic.ini`` is needed. A sqlite database file (and its directory) is created
if missing, so a fresh data directory gets its schema on first start.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import make_url, text

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


def _ensure_sqlite_directory(url: str) -> None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # a URI filename: leave it to sqlite
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
