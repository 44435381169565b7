"""What a VM uses of its host, as its agent measures it: the usage figures.

A :class:`VmUsage` is one measurement of one VM. Its counters (CPU seconds, disk bytes,
network bytes) are cumulative since the VM's process started (``started_at``): a VM
started again (a stop and start, a move to another host) counts from 0 again, which is
how a reader tells a new process from a counter going backwards. Memory is the
resident set now, not a counter.

The manager keeps the latest :class:`UsageSample` of each instance (the measurement,
the host that made it and when the manager received it), apart from the instance's
status: figures change on every sample, and a status write costs a derivation and
events. Accounting (per-interval records) is built on these figures elsewhere.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: Why a VM's network bytes may be missing: QEMU (7.2) keeps no byte counters for a
#: ``-netdev user`` (slirp) backend, nor for the guest NIC in front of it.
NET_NOT_MEASURED = "not measured for user-mode networks"


@dataclass(frozen=True, slots=True)
class VmUsage:
    """One measurement of a VM, its counters cumulative since ``started_at``."""

    started_at: datetime  # when the VM's process started (the host's clock, UTC)
    cpu_seconds: float  # user + system CPU time of the VM's process
    memory_rss_bytes: int  # resident set size now (not a counter)
    disk_read_bytes: int  # all its disks together
    disk_written_bytes: int
    net_rx_bytes: int | None = None  # None: not measured (see NET_NOT_MEASURED)
    net_tx_bytes: int | None = None

    def problems(self) -> list[str]:
        """What makes this measurement impossible ([] when it is plausible)."""
        found = []
        if self.started_at.tzinfo is None:
            found.append("started_at has no time zone")
        if not 0 <= self.cpu_seconds < float("inf"):
            found.append(f"cpu_seconds {self.cpu_seconds} is not a finite figure >= 0")
        for name in ("memory_rss_bytes", "disk_read_bytes", "disk_written_bytes",
                     "net_rx_bytes", "net_tx_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                found.append(f"{name} {value} is negative")
        if (self.net_rx_bytes is None) != (self.net_tx_bytes is None):
            found.append("net_rx_bytes and net_tx_bytes are measured together or not at all")
        return found


@dataclass(frozen=True, slots=True)
class UsageSample:
    """The latest measurement of an instance, as the manager keeps it."""

    instance_id: int
    host: str  # the host whose agent measured it
    at: datetime  # when the manager received it (the manager's clock)
    usage: VmUsage
