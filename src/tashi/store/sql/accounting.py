"""Closing usage intervals (:mod:`tashi.domain.accounting`): that part of
:class:`~tashi.store.sql.SqlStore`.

A mixin, as :mod:`tashi.store.sql.usage` is. Closing an interval [a, b) is, in one
transaction:

1. the allocated figures of every (instance, host) that held something in it, from the
   ledger (``allocations``), in one ``INSERT … SELECT … GROUP BY`` (upserted into the
   records the reports may have opened, keeping their consumed figures);
2. the interval's records added to their day's sums (``usage_days``);
3. the closing mark moved from a to b, compare-and-set.

The mark is read first ``FOR UPDATE`` on PostgreSQL (sqlite's write transactions run one
at a time): two replicas closing at once take turns, and the second finds the interval
closed. A report adding consumption reads the mark ``FOR SHARE`` and adds to an interval
not closed yet, so a closed record (and its day) never changes again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.accounting import (
    DAY_S,
    UsageClosed,
    check_interval,
    day_start,
    interval_start,
)
from tashi.domain.errors import Conflict
from tashi.store.sql.derived import locking
from tashi.store.sql.tables import (
    AllocationRow,
    UsageClosingRow,
    UsageDayRow,
    UsageHostDayRow,
    UsageRecordRow,
    UsageUserDayRow,
)

_ALLOCATED = ("core_seconds", "memory_mib_seconds", "disk_gib_seconds")
_COUNTERS = ("cpu_seconds_used", "disk_read_bytes", "disk_written_bytes")
_MAYBE = ("net_rx_bytes", "net_tx_bytes")  # NULL: not measured


class SqlAccounting:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def set_usage_interval(self, length_s: int) -> int:
        with self._write.begin() as s:
            mark = s.scalars(locking(s, select(UsageClosingRow))).one()
            if mark.length_s == check_interval(length_s):
                return length_s
            if s.scalar(select(UsageRecordRow.instance_id).limit(1)) is not None:
                raise Conflict(f"usage intervals are {mark.length_s} s long and records "
                               f"exist: they cannot become {length_s} s")
            mark.length_s = length_s
            return length_s

    def usage_closing(self) -> UsageClosed:
        with self._read.begin() as s:
            mark = s.scalars(select(UsageClosingRow)).one()
            return UsageClosed(0, _when(mark.closed_until), mark.length_s)

    def close_usage(self, now: datetime, grace_s: float = 0.0, *,
                    max_intervals: int = 24) -> UsageClosed:
        with self._write.begin() as s:
            mark = s.scalars(locking(s, select(UsageClosingRow))).one()
            length = mark.length_s
            due = interval_start(now.timestamp() - grace_s, length)  # closable up to here
            start = mark.closed_until
            if start is None:  # the first call: count from the ledger's first allocation
                first = s.scalar(select(func.min(AllocationRow.since)))
                start = due if first is None else min(interval_start(first, length), due)
            closed = 0
            while start + length <= due and closed < max_intervals:
                _close_one(s, start, length)
                start += length
                closed += 1
            s.execute(update(UsageClosingRow).where(UsageClosingRow.id == 1)
                      .values(closed_until=start))
            return UsageClosed(closed, _when(start), length)


def _close_one(s: Session, a: float, length: int) -> None:
    """Close [a, a + length): its allocated figures, then its day's sums."""
    b = a + length
    held = AllocationRow
    hi = case((held.until.is_(None) | (held.until > b), b), else_=held.until)
    lo = case((held.since < a, a), else_=held.since)
    seconds = hi - lo
    alloc = (select(held.instance_id, held.host, literal(a), literal(length),
                    func.max(held.instance), func.max(held.user_name),
                    func.sum(held.cores * seconds), func.sum(held.memory_mib * seconds),
                    func.sum(held.disk_gib * seconds))
             .where(held.since < b, held.until.is_(None) | (held.until > a),
                    held.until.is_(None) | (held.until > held.since))
             .group_by(held.instance_id, held.host))
    names = ["instance_id", "host", "start_s", "length_s", "instance", "user_name",
             *_ALLOCATED]
    ins = insert_for(s, UsageRecordRow).from_select(names, alloc)
    s.execute(ins.on_conflict_do_update(
        index_elements=["instance_id", "host", "start_s"],
        set_={c: ins.excluded[c] for c in (*_ALLOCATED, "instance", "user_name")}))
    rec = UsageRecordRow
    figures = [*_ALLOCATED, *_COUNTERS, *_MAYBE]
    rows = (select(rec.instance_id, rec.host, literal(day_start(a)), literal(DAY_S),
                   rec.instance, rec.user_name, *(getattr(rec, c) for c in figures))
            .where(rec.start_s == a))
    _add_to(s, UsageDayRow, ["instance_id", "host", "start_s"], rows,
            ["instance_id", "host", "start_s", "length_s", "instance", "user_name"],
            also={"instance"})
    for model, who in ((UsageUserDayRow, rec.user_name), (UsageHostDayRow, rec.host)):
        sums = (select(literal(day_start(a)), who,
                       *(func.sum(getattr(rec, c)) for c in figures))
                .where(rec.start_s == a).group_by(who))
        _add_to(s, model, ["start_s", who.key], sums, ["start_s", who.key])


def _add_to(s: Session, model: type[Any], key: list[str], rows: Any, names: list[str],
            also: frozenset[str] | set[str] = frozenset()) -> None:
    """Add the figures of ``rows`` (``names``, then every figure) to ``model``'s rows of
    the same ``key`` (made if missing); ``also``: columns replaced, not added."""
    ins = insert_for(s, model).from_select([*names, *_ALLOCATED, *_COUNTERS, *_MAYBE], rows)
    adds: dict[str, Any] = {c: getattr(model, c) + ins.excluded[c]
                            for c in (*_ALLOCATED, *_COUNTERS)}
    adds |= {c: add_maybe(getattr(model, c), ins.excluded[c]) for c in _MAYBE}
    adds |= {c: ins.excluded[c] for c in also}
    s.execute(ins.on_conflict_do_update(index_elements=key, set_=adds))


def add_maybe(old: ColumnElement[Any], new: ColumnElement[Any]) -> ColumnElement[Any]:
    """``old + new``, NULL (not measured) only when both are."""
    return case((old.is_(None) & new.is_(None), None),
                else_=func.coalesce(old, 0) + func.coalesce(new, 0))


def insert_for(s: Session, model: Any) -> Any:
    """The dialect's INSERT of ``model`` (a mapped class or a table), which has upserts."""
    dialect = s.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _when(t: float | None) -> datetime | None:
    return None if t is None else datetime.fromtimestamp(t, UTC)
