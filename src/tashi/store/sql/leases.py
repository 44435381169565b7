"""Leases (:mod:`tashi.domain.leases`) and fenced writes (:mod:`tashi.store.fencing`):
that part of :class:`~tashi.store.sql.SqlStore`.

Each call is one transaction, timed by the database's clock
(``clock_timestamp()`` on PostgreSQL, not ``now()``, which stands still at the
transaction's start, so a wait for a lock would shorten the lease; the local time on
sqlite, whose writers are on one machine). Expiries are epoch seconds.

- acquire: made if missing (``ON CONFLICT DO NOTHING``), then one conditional
  ``UPDATE … RETURNING``: taken if expired (or released), or already this holder's.
  A new holding gets the next token; this holder's live lease keeps its token.
  PostgreSQL's ``UPDATE`` re-checks its condition on the newest row version after any
  lock wait, so two replicas acquiring at once: one wins.
- renew: extended only if still this holder's, with this token, and not expired.
- release: expires now (the next acquisition by anyone gets a new token).

Lock waits are bounded (``lock_timeout``, a third of the lease) on PostgreSQL: a
renewal stuck behind fenced writes fails rather than outlasting the lease.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Double, and_, case, cast, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.errors import InvalidInput, LeaseLost
from tashi.domain.leases import Fence, Lease
from tashi.store.fencing import current_fence
from tashi.store.sql.accounting import insert_for
from tashi.store.sql.tables import LeaseRow

_JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01')


class SqlLeases:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def acquire_lease(self, name: str, holder: str, duration_s: float) -> Lease | None:
        _check(holder, duration_s)
        with self._write.begin() as s:
            _bounded(s, "lock_timeout", duration_s / 3)
            now = db_now(s)
            s.execute(insert_for(s, LeaseRow).values(name=name, holder="", token=0,
                                                     expires_at=0.0)
                      .on_conflict_do_nothing(index_elements=["name"]))
            mine = and_(LeaseRow.holder == holder, LeaseRow.expires_at > now)
            row = s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, or_(LeaseRow.expires_at <= now, mine))
                .values(holder=holder, expires_at=now + duration_s,
                        token=case((mine, LeaseRow.token), else_=LeaseRow.token + 1))
                .returning(*LeaseRow.__table__.columns)).first()
            return None if row is None else _lease(row)

    def renew_lease(self, name: str, holder: str, token: int,
                    duration_s: float) -> Lease | None:
        _check(holder, duration_s)
        with self._write.begin() as s:
            _bounded(s, "lock_timeout", duration_s / 3)
            now = db_now(s)
            row = s.execute(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder,
                       LeaseRow.token == token, LeaseRow.expires_at > now)
                .values(expires_at=now + duration_s)
                .returning(*LeaseRow.__table__.columns)).first()
            return None if row is None else _lease(row)

    def release_lease(self, name: str, holder: str, token: int) -> bool:
        with self._write.begin() as s:
            now = db_now(s)
            gone = s.scalar(
                update(LeaseRow)
                .where(LeaseRow.name == name, LeaseRow.holder == holder,
                       LeaseRow.token == token, LeaseRow.expires_at > now)
                .values(expires_at=now).returning(LeaseRow.token))
            return gone is not None

    def get_lease(self, name: str) -> Lease | None:
        with self._read.begin() as s:
            row = s.execute(select(*LeaseRow.__table__.columns)
                            .where(LeaseRow.name == name)).first()
            return None if row is None else _lease(row)


def check_fence(s: Session) -> None:
    """At the start of a write transaction: if the context is fenced, the lease still
    holds (holder, token, not expired), read ``FOR SHARE`` on PostgreSQL; else
    :class:`LeaseLost`, before anything is written."""
    fence = current_fence()
    if fence is None:
        return
    _bounded(s, "idle_in_transaction_session_timeout", fence.idle_s)
    stmt = (select(LeaseRow.holder, LeaseRow.token, LeaseRow.expires_at > db_now(s))
            .where(LeaseRow.name == fence.name))
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True)
    row = s.execute(stmt).first()
    if row is None or (row[0], row[1], bool(row[2])) != (fence.holder, fence.token, True):
        raise LeaseLost(_lost(fence, row))


def db_now(s: Session) -> Any:
    """The database's clock, in epoch seconds, as an SQL expression."""
    if s.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Double)
    return (func.julianday("now") - _JULIAN_EPOCH) * 86400.0


def _bounded(s: Session, setting: str, seconds: float) -> None:
    """Set a PostgreSQL time limit for this transaction only (nothing on sqlite)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.set_config(setting, f"{max(1, int(seconds * 1000))}ms", True)))


def _check(holder: str, duration_s: float) -> None:
    if not holder or not 0 < duration_s <= 3600:
        raise InvalidInput(f"a lease needs a holder and a duration of 0-3600 s, not "
                           f"{holder!r} for {duration_s} s")


def _lease(row: Any) -> Lease:
    return Lease(row.name, row.holder, int(row.token),
                 datetime.fromtimestamp(float(row.expires_at), UTC))


def _lost(fence: Fence, row: Any) -> str:
    now = ("there is no such lease" if row is None else
           f"it is {'held' if row[2] else 'expired'} by {row[0] or '-'} with token {row[1]}")
    return (f"not written: replica {fence.holder} (token {fence.token}) no longer holds "
            f"lease {fence.name!r}: {now}")
