"""Storage failures told from other errors, through SQLAlchemy's wrapping."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from tashi.store.failures import StoreHealth, store_failure


def wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("INSERT INTO instances ...", {}, orig)


@pytest.mark.parametrize(("exc", "kind", "status", "words"), [
    (wrapped(sqlite3.OperationalError("database or disk is full")), "full", 507,
     "the store's disk is full (sqlite: database or disk is full)"),
    (wrapped(sqlite3.OperationalError("attempt to write a readonly database")), "read-only",
     503, "the store is read-only"),
    (wrapped(psycopg.OperationalError('connection failed: connection to server at '
                                      '"10.0.0.5", port 5432 failed: Connection refused')),
     "unreachable", 503, "the store is unreachable (PostgreSQL: connection refused)"),
    (OSError(errno.ENOSPC, "No space left on device"), "full", 507,
     "the manager's disk is full"),
    (OSError(errno.EROFS, "Read-only file system"), "read-only", 503, "read-only"),
])
def test_storage_failures_are_named(exc: BaseException, kind: str, status: int,
                                    words: str) -> None:
    found = store_failure(exc)
    assert found is not None
    assert (found.kind, found.status) == (kind, status)
    assert words in found.message
    assert "10.0.0.5" not in found.message  # what it says is ours, not the driver's text


def test_other_errors_are_not_storage_failures() -> None:
    assert store_failure(ValueError("bad")) is None
    assert store_failure(wrapped(sqlite3.OperationalError("no such table: x"))) is None
    assert store_failure(OSError(errno.EACCES, "denied")) is None


def test_health_shows_the_last_failure() -> None:
    health = StoreHealth()
    assert health.current() is None
    failure = store_failure(OSError(errno.ENOSPC, "full"))
    assert failure is not None
    health.saw(failure)
    assert health.current() == failure
