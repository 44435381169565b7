"""Live migration between hosts of a `tashi up --hosts 3` (each host's agent and QEMUs
in a network namespace of its own, on the cluster's LAN bridge): the memory and disk
streams cross the bridge, to the target's address; a target whose bridge link is cut
mid-way, or whose QEMU runs out of memory (a memory cgroup smaller than the guest),
fails the migration and the VM runs on, on its source alone. Needs root."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate, InstanceOut
from tashi.api.schemas.migration import MigrateIn
from tashi.client import TashiClient
from tests.e2e.conftest import _chunks, qemu_pids, wait_console, wait_state
from tests.e2e.test_migration import migrated, ticks, under_way
from tests.e2e.test_up_hosts import HOSTS, HostsRun, hosts_run, wait_hosts

pytestmark = pytest.mark.e2e
__all__ = ["hosts_run"]  # the fixture, used by name

#: Slow enough to meddle with (4 MiB/s); the default timeout (600 s): the stall ends it.
CUT_SLOW = MigrateIn(to="h3", bandwidth_mib_s=4, max_downtime_ms=2000)
CGROUP = Path("/sys/fs/cgroup")


def address_of(run: HostsRun, host: str) -> str:
    out = subprocess.run(["ip", "-n", f"tashi-{run.cid}-{host}", "-o", "-4", "addr", "show"],
                         capture_output=True, text=True, check=True).stdout
    found = [str(a) for a in re.findall(r"inet (\S+)/", out) if not a.startswith("127.")]
    assert len(found) == 1, out
    return found[0]


def lan_link(run: HostsRun, host: str, state: str) -> None:
    """Set the LAN end of ``host``'s veth (a port of the bridge) ``up`` or ``down``."""
    subprocess.run(["ip", "-n", f"tashi-{run.cid}-lan", "link", "set",
                    f"t{run.cid}{host}", state], check=True)


def pids(run: HostsRun, instance_id: int) -> dict[str, list[int]]:
    return {h: qemu_pids(instance_id, run.host_dir(h)) for h in HOSTS}


async def only_on(run: HostsRun, client: TashiClient, instance_id: int, host: str,
                  timeout_s: float = 120) -> InstanceOut:
    """It ends Running on ``host``, its migration over, one QEMU of it in all."""
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await client.get_instance(instance_id)
        found = pids(run, instance_id)
        others = [p for h, ps in found.items() if h != host for p in ps]
        if inst.state == "Running" and inst.migration is None and inst.host == host \
                and len(found[host]) == 1 and not others:
            return inst
        assert time.monotonic() < deadline, (inst.state, inst.host, inst.message,
                                             inst.last_failure, found)
        await asyncio.sleep(0.2)


async def guest(client: TashiClient, name: str, host: str) -> InstanceOut:
    inst = await client.create_instance(InstanceCreate(name=name, image="guest",
                                                       memory_mib=128, host=host))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, "TASHI-GUEST-TICK 2")
    return inst


@contextlib.asynccontextmanager
async def guest_on_h1(run: HostsRun, image: Path,
                      name: str) -> AsyncIterator[tuple[TashiClient, InstanceOut]]:
    """The cluster of ``run`` up, the guest image in it, and VM ``name`` on h1."""
    client = await wait_hosts(run, run.up())
    try:
        await client.upload_image("guest", _chunks(image))
        yield client, await guest(client, name, "h1")
    finally:
        await client.aclose()


async def counts_on(client: TashiClient, instance_id: int) -> None:
    before = max(ticks(await client.console(instance_id)))
    await wait_console(client, instance_id, f"TASHI-GUEST-TICK {before + 2}", timeout_s=30)


@dataclass
class MemoryCgroup:
    """A memory cgroup (v1 or v2) limited to a size: processes moved in are killed by
    the kernel's OOM killer when they need more."""

    path: Path
    v2: bool

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_kills(self) -> int:
        text = (self.path / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
        found = re.search(r"^oom_kill (\d+)$", text, re.MULTILINE)
        assert found, text
        return int(found.group(1))


@contextlib.contextmanager
def memory_cgroup(name: str, limit_bytes: int) -> Iterator[MemoryCgroup]:
    """A memory cgroup limited to ``limit_bytes`` (swap too), removed afterwards."""
    v2 = "memory" in (CGROUP / "cgroup.controllers").read_text().split() \
        if (CGROUP / "cgroup.controllers").exists() else False
    root = CGROUP if v2 else CGROUP / "memory"
    assert v2 or root.is_dir(), "this test needs a memory cgroup controller (v1 or v2)"
    if v2:
        (root / "cgroup.subtree_control").write_text("+memory")
    group = MemoryCgroup(root / name, v2)
    group.path.mkdir()
    try:
        limits = {"memory.max": limit_bytes, "memory.swap.max": 0} if v2 else {
            "memory.limit_in_bytes": limit_bytes, "memory.memsw.limit_in_bytes": limit_bytes}
        for key, value in limits.items():
            with contextlib.suppress(FileNotFoundError):  # no swap accounting here
                (group.path / key).write_text(str(value))
        yield group
    finally:
        for pid in (group.path / "cgroup.procs").read_text().split():  # back to the root
            with contextlib.suppress(OSError):
                (root / "cgroup.procs").write_text(pid)
        deadline = time.monotonic() + 10
        while True:
            try:
                group.path.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


async def test_migration_crosses_the_bridge_and_survives_a_cut_link(
        hosts_run: HostsRun, guest_image: Path) -> None:
    run = hosts_run
    async with guest_on_h1(run, guest_image, "wanderer") as (client, inst):
        await client.migrate_instance(inst.id, MigrateIn(to="h2"))
        done = await migrated(client, inst.id, 1)
        assert done.host == "h2"
        await only_on(run, client, inst.id, "h2")
        log = (run.host_dir("h1") / "agent.log").read_text()
        sent = re.findall(r"sending its memory to tcp:([0-9.]+):\d+", log)
        assert sent == [address_of(run, "h2")], sent  # over the bridge, not loopback
        assert not sent[0].startswith("127.")
        await counts_on(client, inst.id)

        await client.migrate_instance(inst.id, CUT_SLOW)
        await under_way(client, inst.id)
        lan_link(run, "h3", "down")  # the target's cable pulled, mid-way
        try:
            deadline = time.monotonic() + 90
            while (shown := await client.get_instance(inst.id)).migration is not None:
                assert time.monotonic() < deadline, shown
                await asyncio.sleep(0.3)
            failed = shown
            assert failed.host == "h2", failed
            assert failed.state == "Running", failed
            assert "migration 2 to host h3 failed" in failed.last_failure, failed
            assert "stalled: nothing sent for 10 s" in failed.last_failure, failed
            assert len(qemu_pids(inst.id, run.host_dir("h2"))) == 1
            await counts_on(client, inst.id)  # the guest runs on, on its source
        finally:
            lan_link(run, "h3", "up")
        # back on the LAN, h3's agent removes the VM that waited for the stream
        await only_on(run, client, inst.id, "h2")
        await client.migrate_instance(inst.id, MigrateIn(to="h3"))
        done = await migrated(client, inst.id, 3)
        assert done.host == "h3"
        await only_on(run, client, inst.id, "h3")
        await counts_on(client, inst.id)


async def test_a_target_out_of_memory_fails_the_migration_and_the_source_runs_on(
        hosts_run: HostsRun, guest_image: Path) -> None:
    run = hosts_run
    async with guest_on_h1(run, guest_image, "hungry") as (client, inst):
        with memory_cgroup(f"tashi-test-{run.cid}", 48 * 2**20) as group:
            await client.migrate_instance(inst.id, MigrateIn(to="h2", bandwidth_mib_s=8,
                                                             max_downtime_ms=2000))
            await under_way(client, inst.id)
            (target,) = qemu_pids(inst.id, run.host_dir("h2"))
            group.add(target)  # 48 MiB for a guest of 128
            failed = await only_on(run, client, inst.id, "h1")
            assert group.oom_kills() >= 1  # the kernel killed it, as a host out of memory
        assert "migration 1 to host h2 failed" in failed.last_failure, failed
        assert failed.last_migration is None
        await counts_on(client, inst.id)
