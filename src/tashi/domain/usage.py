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


@dataclass(frozen=True, slots=True)
class UsageReport:
    """One usage report of an agent: the figures of the VMs it runs, measured together.

    ``sender`` names the agent (kept in its state directory) and ``seq`` counts its
    reports from 1: the manager counts a report once, and refuses one whose ``seq`` is
    not past the last it counted from that sender (re-sent, or older)."""

    host: str
    sender: str
    seq: int
    measured_at: datetime  # the agent's clock (UTC)
    figures: tuple[tuple[int, VmUsage], ...]


@dataclass(frozen=True, slots=True)
class Consumed:
    """What a VM used between two measurements of it."""

    cpu_seconds: float
    disk_read_bytes: int
    disk_written_bytes: int
    net_rx_bytes: int | None  # None: not measured
    net_tx_bytes: int | None

    def is_nothing(self) -> bool:
        return not (self.cpu_seconds or self.disk_read_bytes or self.disk_written_bytes
                    or self.net_rx_bytes or self.net_tx_bytes)


def consumed(before: VmUsage | None, now: VmUsage) -> Consumed | None:
    """What the VM used since ``before`` (its last measurement counted; None: none).

    A measurement of a later process (``started_at`` after the one before: a restart,
    a move) counts its counters whole: they start at 0 with the process. One of an
    earlier process, or with a counter below the one before, is older than what was
    counted: None, nothing to count (counting it would count twice)."""
    if before is None or now.started_at > before.started_at:
        return Consumed(now.cpu_seconds, now.disk_read_bytes, now.disk_written_bytes,
                        now.net_rx_bytes, now.net_tx_bytes)
    if now.started_at < before.started_at:
        return None
    deltas = (now.cpu_seconds - before.cpu_seconds,
              now.disk_read_bytes - before.disk_read_bytes,
              now.disk_written_bytes - before.disk_written_bytes)
    net = [_delta(b, n) for b, n in ((before.net_rx_bytes, now.net_rx_bytes),
                                      (before.net_tx_bytes, now.net_tx_bytes))]
    if min(deltas) < 0 or any(d is not None and d < 0 for d in net):
        return None
    return Consumed(deltas[0], int(deltas[1]), int(deltas[2]), net[0], net[1])


def _delta(before: int | None, now: int | None) -> int | None:
    if now is None:
        return None
    return now - (before or 0)  # measured from now on: all of it since the start
