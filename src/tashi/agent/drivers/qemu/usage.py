"""A QEMU VM's usage figures: one read of ``/proc/<pid>/stat`` and one QMP call.

- CPU seconds: ``utime + stime`` of the QEMU process (all its threads: vCPUs, I/O),
  from ``/proc/<pid>/stat``, in clock ticks; its start time and resident set size come
  from the same read.
- Disk bytes: QMP ``query-blockstats``, the ``rd_bytes`` and ``wr_bytes`` of every
  drive QEMU has (what the guest read and wrote through its devices, all disks
  together; the nodes under a drive, e.g. an overlay's backing image, are not counted
  again).
- Network bytes: not measured. QEMU 7.2 keeps no byte counters for a ``-netdev user``
  (slirp) backend: ``query-rx-filter`` gives the NIC's filters only, the NIC devices'
  QOM properties hold no counters, ``query-stats`` has no network provider, and HMP
  ``info usernet`` lists open connections, not totals. Counting would need a packet
  filter (``filter-dump``) writing every packet to a file: not cheap.

Every counter is cumulative since the QEMU process started. The QMP call is bounded by
a timeout: a hung QEMU makes the measurement fail (DriverError), never wait.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tashi.agent.drivers.qemu.qmp import qmp_execute
from tashi.domain.errors import DriverError
from tashi.domain.usage import VmUsage

USAGE_QMP_TIMEOUT_S = 1.0
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` that usage needs (proc(5): 14, 15, 22, 24)."""

    utime_ticks: int
    stime_ticks: int
    start_ticks: int  # after the machine's boot
    rss_pages: int


def parse_proc_stat(text: str) -> ProcStat:
    """The fields of one ``/proc/<pid>/stat`` line. The process name (field 2, in
    parentheses) may hold spaces and parentheses: fields are counted after its last
    ``)``. ValueError for a line that is not one."""
    _, paren, rest = text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 22:
        raise ValueError(f"not a /proc/<pid>/stat line: {text[:80]!r}")
    # fields[0] is field 3 (the state): field n is fields[n - 3]
    return ProcStat(utime_ticks=int(fields[11]), stime_ticks=int(fields[12]),
                    start_ticks=int(fields[19]), rss_pages=int(fields[21]))


def parse_boot_time(text: str) -> datetime:
    """The machine's boot time from ``/proc/stat`` (its ``btime`` line, in seconds
    since the epoch). ValueError if it has none."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "btime":
            return datetime.fromtimestamp(int(value), UTC)
    raise ValueError("no btime line in /proc/stat")


def parse_blockstats(result: object) -> tuple[int, int]:
    """(read bytes, written bytes) of every drive in a ``query-blockstats`` answer.
    Only the top-level entries count: their ``parent`` and ``backing`` nodes are the
    same I/O seen lower down. ValueError for an answer of another shape."""
    if not isinstance(result, list):
        raise ValueError(f"query-blockstats answered {type(result).__name__}, not a list")
    read = written = 0
    for entry in result:
        stats = entry.get("stats") if isinstance(entry, Mapping) else None
        if not isinstance(stats, Mapping):
            raise ValueError(f"query-blockstats entry without stats: {entry!r:.200}")
        rd, wr = stats.get("rd_bytes"), stats.get("wr_bytes")
        if not isinstance(rd, int) or not isinstance(wr, int):
            raise ValueError(f"query-blockstats entry without byte counts: {stats!r:.200}")
        read += rd
        written += wr
    return read, written


@dataclass(frozen=True, slots=True)
class HostClock:
    """What turns /proc's ticks and pages into seconds and bytes on this machine."""

    ticks_per_s: int
    page_bytes: int
    boot: datetime

    def usage(self, stat: ProcStat, read: int, written: int) -> VmUsage:
        return VmUsage(
            started_at=self.boot + timedelta(seconds=stat.start_ticks / self.ticks_per_s),
            cpu_seconds=(stat.utime_ticks + stat.stime_ticks) / self.ticks_per_s,
            memory_rss_bytes=stat.rss_pages * self.page_bytes,
            disk_read_bytes=read, disk_written_bytes=written)


@functools.cache
def host_clock() -> HostClock:
    """This machine's (read once: the boot time does not change)."""
    return HostClock(ticks_per_s=os.sysconf("SC_CLK_TCK"),
                     page_bytes=os.sysconf("SC_PAGE_SIZE"),
                     boot=parse_boot_time((PROC / "stat").read_text()))


async def measure(instance_id: int, pid: int, qmp_socket: Path, *,
                  timeout_s: float = USAGE_QMP_TIMEOUT_S,
                  client_name: str | None = None) -> VmUsage | None:
    """The figures of instance ``instance_id``'s QEMU (process ``pid``, monitor at
    ``qmp_socket``); None if the process is gone. DriverError if QMP does not answer
    within ``timeout_s`` or /proc cannot be read."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return None  # it just ended
    except OSError as exc:
        raise DriverError(f"instance {instance_id}: cannot read /proc/{pid}/stat: "
                          f"{exc.strerror}") from exc
    try:
        stat = parse_proc_stat(text)
        answer = await qmp_execute(qmp_socket, "query-blockstats", timeout_s=timeout_s,
                                   client_name=client_name)
        read, written = parse_blockstats(answer)
    except (ValueError, DriverError) as exc:
        reason = exc.message if isinstance(exc, DriverError) else str(exc)
        raise DriverError(f"instance {instance_id}: cannot measure its usage: "
                          f"{reason}") from exc
    return host_clock().usage(stat, read, written)
