"""Usage reports: the closed usage records summed per period and per instance, user
or host (see :mod:`tashi.domain.usage_reports`), a page at a time."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from tashi.api.schemas.base import Wire
from tashi.domain.usage_reports import UsagePage, UsageReportRow


class UsageRowOut(Wire):
    """The sums of one period for one key (null: summed over it)."""

    user: str | None = Field(description="null when summed per host")
    instance: str | None = Field(description="the instance's name; null unless per instance")
    instance_id: int | None = Field(description="null unless per instance")
    host: str | None = Field(description="null when summed per user")
    start: datetime
    end: datetime = Field(description="the period's end, or closed_until if that is sooner")
    core_seconds: float = Field(description="core-seconds allocated")
    memory_mib_seconds: float = Field(description="memory MiB-seconds allocated")
    disk_gib_seconds: float = Field(description="disk GiB-seconds allocated")
    cpu_seconds_used: float = Field(description="CPU time the VMs used")
    disk_read_bytes: int
    disk_written_bytes: int
    net_rx_bytes: int | None = Field(description="null: not measured")
    net_tx_bytes: int | None = Field(description="null: not measured")

    @classmethod
    def of(cls, row: UsageReportRow) -> UsageRowOut:
        return cls(user=row.user, instance=row.instance, instance_id=row.instance_id,
                   host=row.host, start=row.start, end=row.end,
                   core_seconds=row.core_seconds, memory_mib_seconds=row.memory_mib_seconds,
                   disk_gib_seconds=row.disk_gib_seconds,
                   cpu_seconds_used=row.cpu_seconds_used,
                   disk_read_bytes=row.disk_read_bytes,
                   disk_written_bytes=row.disk_written_bytes,
                   net_rx_bytes=row.net_rx_bytes, net_tx_bytes=row.net_tx_bytes)


class UsageReportOut(Wire):
    """One page of a report, ordered by (start, key)."""

    rows: list[UsageRowOut]
    next: str | None = Field(description="pass as `after` for the next page; null: the last")
    closed_until: datetime | None = Field(
        description="usage before this is counted, final; later usage is not shown yet "
                    "(null: nothing closed yet)")

    @classmethod
    def of(cls, page: UsagePage) -> UsageReportOut:
        return cls(rows=[UsageRowOut.of(r) for r in page.rows], next=page.next,
                   closed_until=page.closed_until)
