"""What this host offers to VMs: its cores and memory, as far as the agent may use them.

Cores are the CPUs of the agent's affinity mask (a ``taskset`` or cpuset pinning),
memory is ``MemTotal`` of ``/proc/meminfo``; both are lowered by the cgroup v2
limits of the agent's own cgroup and of its ancestors (``cpu.max`` quota/period,
rounded down but at least one core; ``memory.max``). The VMs the agent starts run
in that cgroup too, so they cannot use more than it allows.

The parsers are pure functions of the files' texts; :func:`measure` takes the
paths, so all of it can be tested with sample files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tashi.domain.errors import DriverError

log = logging.getLogger(__name__)

MIB = 1024 * 1024
PROC_MEMINFO = Path("/proc/meminfo")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class HostResources:
    cores: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    """Limits of a cgroup; None where there is none."""

    cores: int | None = None
    memory_mib: int | None = None

    def tighter(self, other: CgroupLimits) -> CgroupLimits:
        """The smaller of each limit of ``self`` and ``other``."""
        return CgroupLimits(_smaller(self.cores, other.cores),
                            _smaller(self.memory_mib, other.memory_mib))


def _smaller(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def memtotal_mib(meminfo: str) -> int:
    """``MemTotal`` of a ``/proc/meminfo`` text, in MiB. Raises ValueError."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) < 2 or not _number(fields[1]):
                raise ValueError(f"malformed line {line!r}")
            return int(fields[1]) // 1024  # kB
    raise ValueError("no MemTotal line")


def own_cgroup(proc_cgroup: str) -> PurePosixPath | None:
    """The cgroup v2 path (relative to the cgroup root) of a ``/proc/<pid>/cgroup`` text.

    None when it has no v2 entry (``0::/path``), or when the path leaves the
    visible hierarchy (``/../..``: the process is outside this cgroup namespace)."""
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy != "0" or controllers or not path.startswith("/"):
            continue
        parts = PurePosixPath(path).parts[1:]
        if ".." in parts:
            return None
        return PurePosixPath(*parts) if parts else PurePosixPath(".")
    return None


def cpu_max_cores(cpu_max: str) -> int | None:
    """Whole cores allowed by a ``cpu.max`` text (``QUOTA PERIOD`` or ``max PERIOD``):
    QUOTA/PERIOD rounded down, at least 1; None when there is no quota. Raises ValueError."""
    fields = cpu_max.split()
    if len(fields) != 2 or not _number(fields[1]) or not (
            fields[0] == "max" or _number(fields[0])):
        raise ValueError(f"malformed cpu.max {cpu_max.strip()!r}")
    if fields[0] == "max":
        return None
    quota, period = int(fields[0]), int(fields[1])
    if quota == 0 or period == 0:
        raise ValueError(f"malformed cpu.max {cpu_max.strip()!r}")
    return max(1, quota // period)


def memory_max_mib(memory_max: str) -> int | None:
    """MiB allowed by a ``memory.max`` text (bytes, or ``max``: None). Raises ValueError."""
    text = memory_max.strip()
    if text == "max":
        return None
    if not _number(text):
        raise ValueError(f"malformed memory.max {text!r}")
    return int(text) // MIB


def cgroup_limits(directory: Path) -> CgroupLimits:
    """The limits set in one cgroup directory; a missing or unreadable file is no limit."""
    return CgroupLimits(_read_limit(directory / "cpu.max", cpu_max_cores),
                        _read_limit(directory / "memory.max", memory_max_mib))


def _read_limit(path: Path, parse: Callable[[str], int | None]) -> int | None:
    try:
        return parse(path.read_text(encoding="ascii"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("cgroup limit %s ignored: %s", path, exc)
        return None


def effective_limits(proc_cgroup: str, cgroup_root: Path) -> CgroupLimits:
    """The tightest limits of the cgroup named in ``proc_cgroup`` and its ancestors
    under ``cgroup_root``; none unless ``cgroup_root`` is a cgroup v2 hierarchy."""
    if not (cgroup_root / "cgroup.controllers").is_file():
        return CgroupLimits()  # cgroup v1 or hybrid: not looked at
    path = own_cgroup(proc_cgroup)
    limits = CgroupLimits()
    directory = cgroup_root / path if path is not None else cgroup_root
    while True:
        limits = limits.tighter(cgroup_limits(directory))
        if directory == cgroup_root:
            return limits
        directory = directory.parent


def usable_cpus() -> int:
    """CPUs the agent may run on: its (main thread's) affinity mask, else all of them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(os.getpid())) or 1
    return os.cpu_count() or 1


def measure(cpus: int, meminfo: Path = PROC_MEMINFO, proc_cgroup: Path = PROC_SELF_CGROUP,
            cgroup_root: Path = CGROUP_ROOT) -> HostResources:
    """Cores and memory for VMs: ``cpus`` and MemTotal of ``meminfo``, lowered by the
    cgroup limits. Raises DriverError when ``meminfo`` cannot be read."""
    try:
        memory = memtotal_mib(meminfo.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DriverError(f"cannot read MemTotal from {meminfo}: {exc}") from exc
    try:
        own = proc_cgroup.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cgroup limits ignored: cannot read %s: %s", proc_cgroup, exc)
        own = ""
    limits = effective_limits(own, cgroup_root)
    cores = cpus if limits.cores is None else min(cpus, limits.cores)
    if limits.memory_mib is not None:
        memory = min(memory, limits.memory_mib)
    return HostResources(cores=max(1, cores), memory_mib=memory)


GIB = 1024 * MIB


def disk_gib_of(directory: Path, limit_gib: int | None = None) -> int:
    """The room for instance disks: the size of the filesystem holding ``directory``
    (its nearest existing ancestor), or ``limit_gib`` when that is smaller. Raises
    DriverError when it cannot be measured."""
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        fs = os.statvfs(directory)
    except OSError as exc:
        raise DriverError(f"cannot measure the disk of {directory}: {exc}") from exc
    total = fs.f_blocks * fs.f_frsize // GIB
    return total if limit_gib is None else min(total, limit_gib)


def host_resources() -> HostResources:
    """This host's cores and memory for VMs, as the running agent sees them."""
    return measure(usable_cpus())
