"""Counting agents' usage reports (:class:`~tashi.domain.usage.UsageReport`): that part
of :class:`~tashi.store.sql.SqlStore`.

A mixin, as :mod:`tashi.store.sql.accounting` is. One report is counted in one
transaction, or not at all:

1. its sender's row (``usage_senders``) is locked and its sequence number checked: one
   not past the last counted from that sender is refused (Conflict), nothing counted;
2. each VM's consumption since its last counted measurement (the instance's ``usage``
   row, :func:`~tashi.domain.usage.consumed`) is added to its record of the interval
   the report was measured in, or of the first open one when that one is closed
   already (a report held on its host through an outage): a closed record never
   changes again;
3. the measurements become the instances' latest (the next report's baseline), and
   the sequence number the sender's last.

The closing mark is read ``FOR SHARE`` on PostgreSQL, so a report and an interval's
closing (``FOR UPDATE``) take turns. A report naming an instance bound to another host
is refused whole (Forbidden); instances that are gone, or bound to none, are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.accounting import interval_start
from tashi.domain.errors import Conflict, Forbidden
from tashi.domain.usage import Consumed, UsageReport, UsageSample, consumed
from tashi.store.sql.accounting import add_maybe, insert_for
from tashi.store.sql.derived import locking
from tashi.store.sql.tables import (
    InstanceRow,
    UsageClosingRow,
    UsageRecordRow,
    UsageRow,
    UsageSenderRow,
)
from tashi.store.sql.usage import sample_of, upsert_latest, usage_row

_SUMMED = ("cpu_seconds_used", "disk_read_bytes", "disk_written_bytes")


class SqlConsumption:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def count_usage(self, report: UsageReport, now: datetime) -> int:
        ids = sorted({i for i, _ in report.figures})
        with self._write.begin() as s:
            _check_sequence(s, report, now)
            mark = s.scalars(_sharing(s, select(UsageClosingRow))).one()
            inst = InstanceRow
            bound = {r.id: r for r in s.execute(
                select(inst.id, inst.name, inst.owner, inst.host).where(inst.id.in_(ids)))}
            foreign = sorted(i for i, r in bound.items()
                             if r.host is not None and r.host != report.host)
            if foreign:
                elsewhere = ", ".join(f"{i} ({bound[i].name}, on {bound[i].host})"
                                      for i in foreign)
                raise Forbidden(f"host {report.host}: usage report {report.seq} names "
                                f"instances bound to other hosts: {elsewhere}; nothing "
                                "counted")
            ours = {i: r for i, r in bound.items() if r.host == report.host}
            before = {r.instance_id: sample_of(r).usage for r in s.scalars(
                select(UsageRow).where(UsageRow.instance_id.in_(list(ours))))}
            when = max(report.measured_at.timestamp(), mark.closed_until or 0.0)
            start = interval_start(min(when, now.timestamp()), mark.length_s)
            latest: dict[int, UsageSample] = {}
            used: list[dict[str, Any]] = []
            for instance_id, usage in report.figures:
                row = ours.get(instance_id)
                if row is None:
                    continue
                got = consumed(before.get(instance_id), usage)
                if got is None:  # older than what was counted
                    continue
                before[instance_id] = usage
                latest[instance_id] = UsageSample(instance_id, report.host, now, usage)
                if not got.is_nothing():
                    used.append(_record(row, report.host, start, mark.length_s, got))
            upsert_latest(s, [usage_row(u) for u in latest.values()])
            _add_consumed(s, _merged(used))
            return len(latest)


def _check_sequence(s: Session, report: UsageReport, now: datetime) -> None:
    """Lock the host's sender row (made at its first report: concurrent first reports
    wait for each other on its key) and check ``report``'s number against it."""
    s.execute(insert_for(s, UsageSenderRow).values(
        host=report.host, sender=report.sender, last_seq=0, at=now).on_conflict_do_nothing())
    row = s.scalars(locking(s, select(UsageSenderRow)
                            .where(UsageSenderRow.host == report.host))).one()
    if row.sender == report.sender and report.seq <= row.last_seq:
        raise Conflict(f"host {report.host}: usage report {report.seq} is stale: report "
                       f"{row.last_seq} of this agent was counted already; nothing counted")
    row.sender, row.last_seq, row.at = report.sender, report.seq, now


def _sharing(s: Session, stmt: Any) -> Any:
    """``… FOR SHARE`` on PostgreSQL (sqlite's write transaction already excludes)."""
    return stmt.with_for_update(read=True) if s.get_bind().dialect.name == "postgresql" \
        else stmt


def _record(row: Any, host: str, start: float, length: int,
            got: Consumed) -> dict[str, Any]:
    return {"instance_id": row.id, "host": host, "start_s": start, "length_s": length,
            "instance": row.name, "user_name": row.owner,
            "cpu_seconds_used": got.cpu_seconds, "disk_read_bytes": got.disk_read_bytes,
            "disk_written_bytes": got.disk_written_bytes,
            "net_rx_bytes": got.net_rx_bytes, "net_tx_bytes": got.net_tx_bytes}


def _merged(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per instance (a report names an instance once; this makes sure)."""
    by_id: dict[int, dict[str, Any]] = {}
    for r in records:
        if (seen := by_id.get(r["instance_id"])) is None:
            by_id[r["instance_id"]] = dict(r)
            continue
        for c in _SUMMED:
            seen[c] += r[c]
        for c in ("net_rx_bytes", "net_tx_bytes"):
            seen[c] = None if seen[c] is None and r[c] is None else \
                (seen[c] or 0) + (r[c] or 0)
    return list(by_id.values())


def _add_consumed(s: Session, records: list[dict[str, Any]]) -> None:
    """Add each record's consumption to its interval's record (made if missing): one
    upsert statement, executed for all of them."""
    if not records:
        return
    table = UsageRecordRow.__table__
    ins = insert_for(s, table)
    adds: dict[str, Any] = {c: table.c[c] + ins.excluded[c] for c in _SUMMED}
    adds |= {c: add_maybe(table.c[c], ins.excluded[c]) for c in ("net_rx_bytes", "net_tx_bytes")}
    s.connection().execute(ins.on_conflict_do_update(
        index_elements=["instance_id", "host", "start_s"], set_=adds), records)
