"""Quotas (:mod:`tashi.domain.quotas`): that part of :class:`~tashi.store.sql.SqlStore`,
and the check made inside the transactions that make instances count.

A mixin, as :mod:`tashi.store.sql.users` is. One row per user with a limit (NULL: no
limit); a user's use is summed from its instances' cached states and specs, by
:func:`tashi.domain.quotas.use_of` (the one rule), in the reading transaction.

**Concurrency.** :func:`check_creates` (called by
:func:`tashi.store.sql.batch.create_instances`)
and :func:`check_growth` (called by :func:`tashi.store.sql.derived.write_instance`, for
a spec write that makes an instance count more: a resume) run inside the write
transaction that inserts or changes the instances, before it does. They read the
owner's quota row first:

- on PostgreSQL with ``SELECT … FOR UPDATE``: a second transaction checking the same
  user waits on that row until the first commits, and then counts what the first one
  made (under READ COMMITTED each statement sees what was committed before it began,
  and the use is read by a statement after the lock). Lock order: an instance row
  (a resume) before the quota row; nothing locks them the other way round.
- on sqlite the write transactions of a database already run one at a time
  (``BEGIN IMMEDIATE``, and a lock of ours within a process: :mod:`.engine`); the
  pickle store's one connection runs every transaction one at a time.

A user without a quota row is not limited, and takes no lock. A quota set while
creates are under way applies to those that read it after it was committed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Executable, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.errors import NotFound
from tashi.domain.models import Instance, InstanceSpec, NewInstance
from tashi.domain.quotas import (
    COUNTED,
    NO_LIMITS,
    NOTHING,
    Quota,
    QuotaField,
    QuotaLimits,
    QuotaUse,
    asked,
    charge,
    check,
    use_of,
)
from tashi.domain.states import InstanceState
from tashi.store.documents import spec_from_doc
from tashi.store.sql.tables import InstanceRow, QuotaRow, UserRow

_COUNTED = sorted(s.value for s in COUNTED)


class SqlQuotas:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]
    _clock: Callable[[], datetime]

    def get_quota(self, user: str) -> Quota:
        with self._read.begin() as s:
            _check_user(s, user)
            return Quota(user, limits(s.get(QuotaRow, user)), use_of_user(s, user))

    def list_quotas(self) -> list[Quota]:
        with self._read.begin() as s:
            rows = s.scalars(select(QuotaRow).order_by(QuotaRow.user_name)).all()
            return [Quota(r.user_name, limits(r), use_of_user(s, r.user_name)) for r in rows]

    def set_quota(self, user: str, changes: Mapping[QuotaField, int | None]) -> Quota:
        checked = NO_LIMITS.changed(changes)  # InvalidInput before any write
        given = {f.value: checked.of(f) for f in changes}
        try:
            with self._write.begin() as s:
                _check_user(s, user)
                s.execute(_upsert(s, {"user_name": user, **given,
                                      "updated_at": self._clock()}))
                row = s.scalar(select(QuotaRow).where(QuotaRow.user_name == user))
                now = limits(row)
                if now.unlimited:  # no limit left: the user has no quota
                    s.execute(delete(QuotaRow).where(QuotaRow.user_name == user))
                return Quota(user, now, use_of_user(s, user))
        except IntegrityError as exc:  # the user was deleted meanwhile
            raise NotFound(f"user {user!r} not found") from exc

    def delete_quota(self, user: str) -> Quota:
        with self._write.begin() as s:
            _check_user(s, user)
            s.execute(delete(QuotaRow).where(QuotaRow.user_name == user))
            return Quota(user, NO_LIMITS, use_of_user(s, user))


def limits(row: QuotaRow | None) -> QuotaLimits:
    if row is None:
        return NO_LIMITS
    return QuotaLimits(instances=row.instances, cores=row.cores, memory_mib=row.memory_mib,
                       disk_gib=row.disk_gib, machines=row.machines)


def use_of_user(s: Session, user: str) -> QuotaUse:
    """What ``user``'s instances use now, as this transaction sees them."""
    rows = s.execute(select(InstanceRow.state, InstanceRow.spec).where(
        InstanceRow.owner == user, InstanceRow.state.in_(_COUNTED)))
    return use_of((InstanceState(state), spec_from_doc(doc, None)) for state, doc in rows)


def check_creates(s: Session, news: Sequence[NewInstance]) -> None:
    """Forbidden, naming the limit and the use, if creating ``news`` would take an
    owner past a limit (owners locked in name order: two batches never deadlock)."""
    by_owner: defaultdict[str, list[InstanceSpec]] = defaultdict(list)
    for n in news:
        by_owner[n.owner].append(n.spec)
    for owner in sorted(by_owner):
        _check_ask(s, owner, asked(by_owner[owner]))


def check_growth(s: Session, before: Instance, state: InstanceState,
                 spec: InstanceSpec) -> None:
    """Forbidden if ``before`` becoming ``spec`` in ``state`` makes it count more than
    it did (a resume: Suspended -> Resuming) past its owner's limit. Call it before
    the instance's row is changed: the use read is the one without the change."""
    old, new = charge(before.state, before.spec), charge(state, spec)
    growth = QuotaUse(*(max(0, new.of(f) - old.of(f)) for f in QuotaField))
    if growth != NOTHING:
        _check_ask(s, before.owner, growth)


def _check_ask(s: Session, owner: str, ask: QuotaUse) -> None:
    # FOR UPDATE on PostgreSQL; sqlite renders none (its write transaction excludes)
    row = s.scalar(select(QuotaRow).where(QuotaRow.user_name == owner).with_for_update())
    if row is not None:
        check(owner, limits(row), use_of_user(s, owner), ask)


def _check_user(s: Session, user: str) -> None:
    if s.scalar(select(UserRow.id).where(UserRow.name == user)) is None:
        raise NotFound(f"user {user!r} not found")


def _upsert(s: Session, values: dict[str, object]) -> Executable:
    """Insert the quota row, or change only the given fields of the one there (two
    admins setting different limits at once both keep theirs)."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(QuotaRow).values(values)
    return stmt.on_conflict_do_update(index_elements=["user_name"],
                                      set_={k: v for k, v in values.items() if k != "user_name"})
