"""Open a store by URL, the one way every Tashi process does it.

::

    sqlite:///tashi.db, sqlite:////var/lib/tashi/tashi.db   the SQL store on sqlite
    postgresql://user:pw@db.example/tashi                   the SQL store on PostgreSQL
        (the same as postgresql+psycopg://; Tashi uses psycopg 3)
    pickle:///var/lib/tashi/state.pickle                    the pickle store (absolute path)

SQL stores are migrated to the newest schema when opened with :func:`open_store`.
URLs may hold a password: only :func:`redact`-ed URLs are logged or shown.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from tashi.domain.errors import InvalidInput
from tashi.store import sql
from tashi.store.base import Store
from tashi.store.picklefile import PickleStore

log = logging.getLogger(__name__)

_PASSWORD = re.compile(r"(://[^/@:]*):[^/@]*@")
_USAGE = "use sqlite:///FILE, postgresql://USER@HOST/DB or pickle:///ABSOLUTE/PATH"


def open_store(url: str) -> Store:
    """The store at ``url``; an SQL one is migrated to the newest schema first."""
    path = pickle_path(url)
    if path is not None:
        log.info("opening the pickle store %s", path)
        return PickleStore(path)
    return sql.open_store(sql_url(url))


def migrate_store(url: str) -> None:
    """Bring the store at ``url`` to the newest schema (a pickle store's file is migrated
    in memory whenever it is opened, and saved so at its next write: nothing to do)."""
    if pickle_path(url) is None:
        sql.migrate(sql_url(url))


def pickle_path(url: str) -> Path | None:
    """The file of a ``pickle:`` URL, or None for any other kind of URL."""
    parts = urlsplit(url)
    if parts.scheme != "pickle":
        return None
    path = unquote(parts.path)
    if parts.netloc or parts.query or not path.startswith("/") or path.endswith("/"):
        raise InvalidInput(f"store URL {url!r}: a pickle store is pickle:///ABSOLUTE/PATH")
    return Path(path)


def sql_url(url: str) -> str:
    """``url`` as the SQLAlchemy URL Tashi uses (PostgreSQL through psycopg 3)."""
    try:
        parsed: URL = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"store URL {redact(url)!r} is not a URL: {_USAGE}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise InvalidInput(f"store URL {redact(url)!r}: driver {driver!r} is not "
                               "supported; Tashi talks to PostgreSQL with psycopg 3")
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    raise InvalidInput(f"store URL {redact(url)!r} is not supported: {_USAGE}")


def redact(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)
