"""Usage reports (:mod:`tashi.domain.usage_reports`): that part of
:class:`~tashi.store.sql.SqlStore`, reading what :mod:`tashi.store.sql.accounting`
closed.

A mixin, as :mod:`tashi.store.sql.accounting` is. Reports by interval and by hour read
``usage_records``; by day and by month, ``usage_days`` (a row per instance, host and
day). Only closed intervals are read (``start_s`` before the closing mark), so every
figure shown is final. Two ways to a page, both keyset-paginated on
(period start, key) and both the same SQL on sqlite and PostgreSQL:

- *whole rows*, when the table's rows are the report's rows (per instance, by interval,
  by day, and by hour when intervals are an hour long): one ``SELECT … ORDER BY
  start_s, instance_id, host LIMIT n``, walking the ``start_s`` index; only the rows of
  one period (a day: one per instance) are sorted at a time.
- *grouped*, otherwise: one period at a time, ``GROUP BY`` the key within its bounds
  (a literal period start: no dialect's date arithmetic), skipping the periods without
  rows by asking for the next row's start (an index lookup), until the page is full.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.usage_reports import (
    FIGURES,
    HOUR_S,
    Cursor,
    Key,
    Per,
    Period,
    Periods,
    UsagePage,
    UsageQuery,
    UsageReportRow,
    encode_cursor,
)
from tashi.store.sql.tables import (
    UsageClosingRow,
    UsageDayRow,
    UsageHostDayRow,
    UsageRecordRow,
    UsageUserDayRow,
)

Table = (type[UsageRecordRow] | type[UsageDayRow] | type[UsageUserDayRow]
         | type[UsageHostDayRow])
#: Per user (host), by day or month: the day sums of each user (host), when the query
#: names no filter they cannot answer.
_ROLLUPS: dict[Per, tuple[Table, tuple[str, ...]]] = {
    Per.USER: (UsageUserDayRow, ("host", "instance")),
    Per.HOST: (UsageHostDayRow, ("user", "instance")),
}
_COUNTS = frozenset(("disk_read_bytes", "disk_written_bytes", "net_rx_bytes",
                     "net_tx_bytes"))


class SqlUsageReports:
    _read: sessionmaker[Session]

    def usage_report(self, query: UsageQuery) -> UsagePage:
        with self._read.begin() as s:
            mark = s.scalars(select(UsageClosingRow)).one()
            query.check(mark.length_s)
            cursor = query.cursor()
            if mark.closed_until is None:
                return UsagePage()
            report = _Report(query, Periods(query.by, mark.length_s), mark.closed_until)
            rows = (report.whole(s, cursor) if report.rows_are_whole
                    else report.grouped(s, cursor))
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        after = (encode_cursor(query.by, query.per, Cursor(rows[-1].start.timestamp(),
                                                           rows[-1].key(query.per)))
                 if more else None)
        return UsagePage(rows, after, _when(mark.closed_until))


class _Report:
    """One report's query: its table, filters, key and periods."""

    def __init__(self, query: UsageQuery, periods: Periods, closed_until: float) -> None:
        self.query = query
        self.periods = periods
        self.closed_until = closed_until
        by_records = query.by is None or query.by is Period.HOUR
        self.table: Any = UsageRecordRow if by_records else UsageDayRow  # or a rollup
        self.rows_are_whole = query.per is Per.INSTANCE and (
            query.by in (None, Period.DAY)
            or (query.by is Period.HOUR and periods.length_s == HOUR_S))
        rollup, unasked = _ROLLUPS.get(query.per, (None, ()))
        if rollup is not None and not by_records and all(
                getattr(query, f) is None for f in unasked):
            self.table = rollup  # a user's (host's) days summed already: 30 rows a month
        t = self.table
        self.key: tuple[Any, ...] = (  # a rollup has only its own key's columns
            (t.instance_id, t.host) if query.per is Per.INSTANCE
            else (t.user_name,) if query.per is Per.USER else (t.host,))

    def where(self) -> list[ColumnElement[bool]]:
        """The query's filters, and closed intervals only."""
        t, q = self.table, self.query
        where = [t.start_s < self.closed_until]
        for column, value in (("user_name", q.user), ("host", q.host), ("instance", q.instance)):
            if value is not None:  # (a rollup is read only when it has the column)
                where.append(getattr(t, column) == value)
        if q.start is not None:
            where.append(t.start_s >= q.start.timestamp())
        if q.end is not None:
            where.append(t.start_s < q.end.timestamp())
        return where

    def whole(self, s: Session, cursor: Cursor | None) -> list[UsageReportRow]:
        """Up to limit + 1 rows of the table itself, from after ``cursor``."""
        t = self.table
        stmt = (select(t.start_s, t.user_name, t.instance, t.instance_id, t.host,
                       *(getattr(t, f) for f in FIGURES))
                .where(*self.where())
                .order_by(t.start_s, t.instance_id, t.host).limit(self.query.limit + 1))
        if cursor is not None:
            stmt = stmt.where(t.start_s >= cursor.start_s,
                              or_(t.start_s > cursor.start_s, _past(self.key, cursor.key)))
        return [self.row(r.start_s, r, r.user_name, r.instance, r.instance_id, r.host)
                for r in s.execute(stmt)]

    def grouped(self, s: Session, cursor: Cursor | None) -> list[UsageReportRow]:
        """Up to limit + 1 rows summed per period and key, from after ``cursor``."""
        t, want = self.table, self.query.limit + 1
        out: list[UsageReportRow] = []
        since = None if cursor is None else cursor.start_s
        while len(out) < want:
            first = s.scalar(select(func.min(t.start_s)).where(
                *self.where(), *(() if since is None else (t.start_s >= since,))))
            if first is None:
                break
            start = self.periods.start_of(first)
            stmt = self.period_sums(start).limit(want - len(out))
            if cursor is not None and start == cursor.start_s:
                stmt = stmt.where(_past(self.key, cursor.key))
            out += [self.summed(start, r) for r in s.execute(stmt)]
            since = self.periods.after(start)
        return out

    def period_sums(self, start: float) -> Select[Any]:
        """The sums of the period starting at ``start`` per key, in key order."""
        t = self.table
        named = ((func.max(t.user_name), func.max(t.instance))
                 if self.query.per is Per.INSTANCE else ())
        return (select(*self.key, *named, *(func.sum(getattr(t, f)) for f in FIGURES))
                .where(*self.where(), t.start_s >= start,
                       t.start_s < self.periods.after(start))
                .group_by(*self.key).order_by(*self.key))

    def summed(self, start: float, row: Row[Any]) -> UsageReportRow:
        per, r = self.query.per, tuple(row)
        if per is Per.INSTANCE:
            return self.row(start, r[4:], r[2], r[3], r[0], r[1])
        return self.row(start, r[1:], r[0] if per is Per.USER else None, None, None,
                        r[0] if per is Per.HOST else None)

    def row(self, start: float, figures: Any, user: str | None, instance: str | None,
            instance_id: int | None, host: str | None) -> UsageReportRow:
        """A report row; ``figures``: a row of the table, or the sums in FIGURES order."""
        values = ([getattr(figures, f) for f in FIGURES] if hasattr(figures, "core_seconds")
                  else list(figures))
        end = min(self.periods.after(start), self.closed_until)
        return UsageReportRow(
            _when(start), _when(end), user, instance, instance_id, host,
            **{f: _number(f, v) for f, v in zip(FIGURES, values, strict=True)})


def _past(columns: tuple[Any, ...], key: Key) -> ColumnElement[bool]:
    """Rows whose key comes after ``key``."""
    if len(columns) == 1:
        return columns[0] > key[0]  # type: ignore[no-any-return]
    return tuple_(*columns) > tuple_(*key)


def _number(figure: str, value: float | int | Decimal | None) -> Any:
    """A figure as the row holds it: counts are ints (PostgreSQL sums them as numeric)."""
    if value is None:
        return None if figure.startswith("net_") else (0 if figure in _COUNTS else 0.0)
    return int(value) if figure in _COUNTS else float(value)


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
