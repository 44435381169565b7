"""Usage figures on the wire: what agents send (``POST /agent/hosts/{h}/usage``) and
what an instance shows (``GET /instances/{ref}``: ``usage``). See
:mod:`tashi.domain.usage`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, Strict

from tashi.api.schemas.base import MAX_ID, Int, Wire
from tashi.domain.usage import NET_NOT_MEASURED, UsageReport, UsageSample, VmUsage

MAX_BYTES = 2**63 - 1  # 64-bit counters in every store
Seconds = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Bytes = Annotated[int, Strict(), Field(ge=0, le=MAX_BYTES)]
MaybeBytes = Annotated[int | None, Strict(), Field(default=None, ge=0, le=MAX_BYTES)]


class UsageIn(Wire):
    """One VM's figures, counters cumulative since its process started."""

    id: Int = Field(ge=1, le=MAX_ID)
    started_at: AwareDatetime = Field(description="when the VM's process started")
    cpu_seconds: Seconds
    memory_rss_bytes: Bytes
    disk_read_bytes: Bytes
    disk_written_bytes: Bytes
    net_rx_bytes: MaybeBytes
    net_tx_bytes: MaybeBytes

    @classmethod
    def of(cls, instance_id: int, u: VmUsage) -> UsageIn:
        return cls(id=instance_id, started_at=u.started_at, cpu_seconds=u.cpu_seconds,
                   memory_rss_bytes=u.memory_rss_bytes, disk_read_bytes=u.disk_read_bytes,
                   disk_written_bytes=u.disk_written_bytes, net_rx_bytes=u.net_rx_bytes,
                   net_tx_bytes=u.net_tx_bytes)

    def domain(self) -> VmUsage:
        return VmUsage(started_at=self.started_at, cpu_seconds=self.cpu_seconds,
                       memory_rss_bytes=self.memory_rss_bytes,
                       disk_read_bytes=self.disk_read_bytes,
                       disk_written_bytes=self.disk_written_bytes,
                       net_rx_bytes=self.net_rx_bytes, net_tx_bytes=self.net_tx_bytes)


class UsageReportIn(Wire):
    """One report: its agent's figures of the VMs it runs, measured together."""

    sender: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$",
                        description="the agent's name for itself, kept in its state "
                        "directory: the sequence numbers are its own")
    seq: Int = Field(ge=1, le=2**62, description="counts the sender's reports from 1: "
                     "one not past the last counted is refused (409), nothing counted")
    measured_at: AwareDatetime = Field(description="when the figures were measured")
    instances: list[UsageIn] = Field(max_length=10_000)

    @classmethod
    def of(cls, report: UsageReport) -> UsageReportIn:
        return cls(sender=report.sender, seq=report.seq, measured_at=report.measured_at,
                   instances=[UsageIn.of(i, u) for i, u in report.figures])

    def domain(self, host: str) -> UsageReport:
        return UsageReport(host, self.sender, self.seq, self.measured_at,
                           tuple((u.id, u.domain()) for u in self.instances))


class UsageOut(Wire):
    """The latest figures of an instance's VM, as its host's agent measured them."""

    host: str = Field(description="the host that measured them")
    at: datetime = Field(description="when the manager received them")
    started_at: datetime = Field(description="when the VM's process started: the "
                                 "counters count from there (a restart starts them at 0)")
    cpu_seconds: float = Field(description="CPU time used by the VM's process")
    memory_rss_bytes: int = Field(description="its resident memory now")
    disk_read_bytes: int = Field(description="read by the guest from all its disks")
    disk_written_bytes: int = Field(description="written by the guest to all its disks")
    net_rx_bytes: int | None = Field(description=f"null: {NET_NOT_MEASURED}")
    net_tx_bytes: int | None = Field(description=f"null: {NET_NOT_MEASURED}")

    @classmethod
    def of(cls, sample: UsageSample) -> UsageOut:
        u = sample.usage
        return cls(host=sample.host, at=sample.at, started_at=u.started_at,
                   cpu_seconds=u.cpu_seconds, memory_rss_bytes=u.memory_rss_bytes,
                   disk_read_bytes=u.disk_read_bytes, disk_written_bytes=u.disk_written_bytes,
                   net_rx_bytes=u.net_rx_bytes, net_tx_bytes=u.net_tx_bytes)
