"""Usage figures (:mod:`tashi.domain.usage`): that part of
:class:`~tashi.store.sql.SqlStore`.

A mixin, as :mod:`tashi.store.sql.users` is. Each instance has at most one row, its
latest sample, replaced by the next one in one multi-row upsert per agent's sample
(never an instance row write: the figures are not its status, so no state is derived
and no event written). The rows go with their instance (a foreign key that cascades)
and are no part of a snapshot: the next sample, seconds later, brings them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.errors import NotFound
from tashi.domain.usage import UsageSample, VmUsage
from tashi.store.sql.accounting import insert_for
from tashi.store.sql.tables import InstanceRow, UsageRow

_FIGURES = ("host", "at", "started_at", "cpu_seconds", "memory_rss_bytes", "disk_read_bytes",
            "disk_written_bytes", "net_rx_bytes", "net_tx_bytes")


class SqlUsage:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def put_usage(self, samples: Sequence[UsageSample]) -> int:
        if not samples:
            return 0
        ids = [u.instance_id for u in samples]
        with self._write.begin() as s:
            there = set(s.scalars(select(InstanceRow.id).where(InstanceRow.id.in_(ids))))
            latest = {u.instance_id: usage_row(u) for u in samples if u.instance_id in there}
            rows = list(latest.values())  # one row per instance: the last sample of it
            upsert_latest(s, rows)
        return len(rows)

    def get_usage(self, instance_id: int) -> UsageSample | None:
        with self._read.begin() as s:
            if s.get(InstanceRow, instance_id) is None:
                raise NotFound(f"instance {instance_id} not found")
            row = s.get(UsageRow, instance_id)
            return None if row is None else sample_of(row)


def upsert_latest(s: Session, rows: list[dict[str, Any]]) -> None:
    """Keep ``rows``, each replacing the row of its instance if there is one: one
    statement, executed for all of them (no per-row compiling)."""
    if not rows:
        return
    stmt = insert_for(s, UsageRow.__table__)
    s.connection().execute(stmt.on_conflict_do_update(
        index_elements=["instance_id"], set_={c: stmt.excluded[c] for c in _FIGURES}), rows)


def usage_row(sample: UsageSample) -> dict[str, Any]:
    u = sample.usage
    return {"instance_id": sample.instance_id, "host": sample.host, "at": sample.at,
            "started_at": u.started_at, "cpu_seconds": u.cpu_seconds,
            "memory_rss_bytes": u.memory_rss_bytes, "disk_read_bytes": u.disk_read_bytes,
            "disk_written_bytes": u.disk_written_bytes, "net_rx_bytes": u.net_rx_bytes,
            "net_tx_bytes": u.net_tx_bytes}


def sample_of(row: UsageRow) -> UsageSample:
    return UsageSample(
        instance_id=row.instance_id, host=row.host, at=row.at,
        usage=VmUsage(started_at=row.started_at, cpu_seconds=row.cpu_seconds,
                      memory_rss_bytes=row.memory_rss_bytes,
                      disk_read_bytes=row.disk_read_bytes,
                      disk_written_bytes=row.disk_written_bytes,
                      net_rx_bytes=row.net_rx_bytes, net_tx_bytes=row.net_tx_bytes))
