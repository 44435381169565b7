"""Host resources: affinity, MemTotal, and the cgroup v2 limits of the agent's cgroup."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from tashi.agent.drivers.hostinfo import (
    CgroupLimits,
    HostResources,
    cpu_max_cores,
    effective_limits,
    host_resources,
    measure,
    memory_max_mib,
    memtotal_mib,
    own_cgroup,
    usable_cpus,
)
from tashi.domain.errors import DriverError

MEMINFO = "MemTotal:       16384000 kB\nMemFree:         1000000 kB\n"  # 16000 MiB
GIB = 1024**3


def test_memtotal() -> None:
    assert memtotal_mib(MEMINFO) == 16000
    with pytest.raises(ValueError, match="no MemTotal"):
        memtotal_mib("MemFree: 1 kB\n")
    with pytest.raises(ValueError, match="malformed"):
        memtotal_mib("MemTotal: lots kB\n")


@pytest.mark.parametrize(("text", "path"), [
    ("0::/system.slice/tashi-agent.service\n", "system.slice/tashi-agent.service"),
    ("0::/\n", "."),
    # hybrid: v1 lines first, the v2 line last
    ("4:memory:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice/a.scope\n",
     "user.slice/a.scope"),
])
def test_own_cgroup(text: str, path: str) -> None:
    assert own_cgroup(text) == PurePosixPath(path)


@pytest.mark.parametrize("text", [
    "4:memory:/x\n1:cpu:/x\n",  # cgroup v1 only
    "0::/../../outside\n",  # outside this cgroup namespace: not under our mount
    "",
])
def test_no_usable_own_cgroup(text: str) -> None:
    assert own_cgroup(text) is None


@pytest.mark.parametrize(("text", "cores"), [
    ("max 100000\n", None),
    ("200000 100000\n", 2),
    ("150000 100000\n", 1),  # rounded down
    ("50000 100000\n", 1),  # at least one
    ("350000 100000", 3),
])
def test_cpu_max(text: str, cores: int | None) -> None:
    assert cpu_max_cores(text) == cores


@pytest.mark.parametrize("text", ["", "max", "0 100000", "abc 100000", "100000 0",
                                  "-5 100000", "١٢ 100000"])
def test_malformed_cpu_max(text: str) -> None:
    with pytest.raises(ValueError, match=r"malformed cpu\.max"):
        cpu_max_cores(text)


def test_memory_max() -> None:
    assert memory_max_mib("max\n") is None
    assert memory_max_mib(f"{4 * GIB}\n") == 4096
    with pytest.raises(ValueError, match=r"malformed memory\.max"):
        memory_max_mib("lots")


def test_limits_combine() -> None:
    assert CgroupLimits(4, None).tighter(CgroupLimits(None, 512)) == CgroupLimits(4, 512)
    assert CgroupLimits(4, 1024).tighter(CgroupLimits(2, 2048)) == CgroupLimits(2, 1024)


def _machine(tmp_path: Path, own: str = "0::/system.slice/tashi-agent.service\n",
             v2: bool = True) -> tuple[Path, Path, Path, Path]:
    """Sample /proc/meminfo, /proc/self/cgroup and a cgroup v2 tree; returns them and
    the agent's cgroup directory."""
    meminfo, proc_cgroup, root = tmp_path / "meminfo", tmp_path / "cgroup", tmp_path / "fs"
    meminfo.write_text(MEMINFO)
    proc_cgroup.write_text(own)
    agent_dir = root / "system.slice" / "tashi-agent.service"
    agent_dir.mkdir(parents=True)
    if v2:
        (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    return meminfo, proc_cgroup, root, agent_dir


def test_no_limits(tmp_path: Path) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path)
    (agent_dir / "cpu.max").write_text("max 100000\n")
    (agent_dir / "memory.max").write_text("max\n")
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(8, 16000)


def test_own_cgroup_limits(tmp_path: Path) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path)
    (agent_dir / "cpu.max").write_text("250000 100000\n")
    (agent_dir / "memory.max").write_text(f"{4 * GIB}\n")
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(2, 4096)
    assert measure(1, meminfo, proc_cgroup, root) == HostResources(1, 4096)  # affinity


def test_ancestor_limits_count_too(tmp_path: Path) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path)
    (agent_dir.parent / "cpu.max").write_text("300000 100000\n")
    (agent_dir / "cpu.max").write_text("max 100000\n")
    (agent_dir.parent / "memory.max").write_text(f"{32 * GIB}\n")  # above MemTotal
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(3, 16000)


def test_fractional_quota_keeps_one_core(tmp_path: Path) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path)
    (agent_dir / "cpu.max").write_text("20000 100000\n")
    assert measure(8, meminfo, proc_cgroup, root).cores == 1


def test_namespaced_root_cgroup(tmp_path: Path) -> None:
    """In a container with its own cgroup namespace, /proc/self/cgroup says ``0::/``
    and the container's limits are in the files at the mount's root."""
    meminfo, proc_cgroup, root, _ = _machine(tmp_path, own="0::/\n")
    (root / "cpu.max").write_text("400000 100000\n")
    (root / "memory.max").write_text(f"{2 * GIB}\n")
    assert measure(16, meminfo, proc_cgroup, root) == HostResources(4, 2048)


def test_cgroup_v1_is_not_read(tmp_path: Path) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path, v2=False)
    (agent_dir / "cpu.max").write_text("100000 100000\n")
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(8, 16000)
    assert effective_limits("0::/system.slice/tashi-agent.service", root) == CgroupLimits()


def test_unreadable_limits_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    meminfo, proc_cgroup, root, agent_dir = _machine(tmp_path)
    (agent_dir / "cpu.max").write_text("garbage\n")
    (agent_dir / "memory.max").write_text(f"{GIB}\n")
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(8, 1024)
    assert "cpu.max" in caplog.text
    proc_cgroup.unlink()  # no /proc/self/cgroup: no limits, still an answer
    assert measure(8, meminfo, proc_cgroup, root) == HostResources(8, 16000)


def test_missing_meminfo_is_a_driver_error(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="MemTotal"):
        measure(2, tmp_path / "nope", tmp_path / "cgroup", tmp_path)


def test_this_machine() -> None:
    found = host_resources()
    assert 1 <= found.cores <= usable_cpus()
    assert found.memory_mib > 0
