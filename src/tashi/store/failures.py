"""What went wrong with the store's storage, in words an operator can act on: its disk
full, its filesystem read-only, its database unreachable. Found in an exception's chain
(SQLAlchemy wraps the driver's error, which may wrap an OSError).

The API answers these 507 or 503 naming the cause, not a bare 500, and remembers the
last one (:class:`StoreHealth`) for ``/healthz`` and the metrics; reads go on being
served, and the store recovers by itself once space frees or the database is back.
"""

from __future__ import annotations

import errno
import threading
import time
from dataclasses import dataclass
from typing import Literal

Kind = Literal["full", "read-only", "unreachable"]
#: The HTTP status each kind is answered with.
STATUS: dict[Kind, int] = {"full": 507, "read-only": 503, "unreachable": 503}
#: Seconds a failure is shown in /healthz after it was last seen.
SHOWN_S = 60.0

_SQLITE_SAYS: tuple[tuple[str, Kind], ...] = (
    ("database or disk is full", "full"), ("disk i/o error", "full"),
    ("attempt to write a readonly database", "read-only"),
    ("unable to open database file", "unreachable"))
_PG_SAYS: tuple[tuple[str, Kind], ...] = (
    ("could not extend file", "full"), ("no space left on device", "full"),
    ("connection refused", "unreachable"), ("could not connect", "unreachable"),
    ("server closed the connection", "unreachable"), ("connection timeout", "unreachable"),
    ("the database system is shutting down", "unreachable"),
    ("the database system is starting up", "unreachable"),
    ("cannot execute", "read-only"))


@dataclass(frozen=True, slots=True)
class StoreFailure:
    kind: Kind
    message: str  # for the API's answer: the cause, never a path or a password

    @property
    def status(self) -> int:
        return STATUS[self.kind]


def store_failure(exc: BaseException) -> StoreFailure | None:
    """The storage failure behind ``exc`` (or its causes), if it is one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _one(current)
        if found is not None:
            return found
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def _one(exc: BaseException) -> StoreFailure | None:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return StoreFailure("full", "the manager's disk is full (no space left on device)")
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return StoreFailure("read-only", "the manager's filesystem is read-only")
    text = str(exc).lower()
    module = type(exc).__module__
    if module.startswith("sqlite3"):
        for said, kind in _SQLITE_SAYS:
            if said in text:
                return StoreFailure(kind, _words(kind, "sqlite", said))
    if module.startswith("psycopg"):
        for said, kind in _PG_SAYS:
            if said in text:
                return StoreFailure(kind, _words(kind, "PostgreSQL", said))
    return None


def _words(kind: Kind, engine: str, said: str) -> str:
    what = {"full": "the store's disk is full", "read-only": "the store is read-only",
            "unreachable": "the store is unreachable"}[kind]
    return f"{what} ({engine}: {said})"


class StoreHealth:
    """The last storage failure seen, for ``/healthz``: shown until :data:`SHOWN_S`
    after it was last seen (a write that works again does not clear it sooner: it
    may have been a read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[StoreFailure, float] | None = None

    def saw(self, failure: StoreFailure) -> None:
        with self._lock:
            self._last = (failure, time.monotonic())

    def current(self) -> StoreFailure | None:
        with self._lock:
            if self._last is None or time.monotonic() - self._last[1] > SHOWN_S:
                return None
            return self._last[0]
