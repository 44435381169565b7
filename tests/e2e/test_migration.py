"""Live migration on real QEMU between two hosts (two agents, each its own state
directory, sharing the image and suspend directories), over loopback: the disks go
along (NBD and block mirrors), the guest keeps counting, the VM runs on exactly one
host whatever fails."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate, InstanceOut
from tashi.api.schemas.migration import MigrateIn
from tashi.client import TashiClient
from tests.e2e.conftest import (
    BIN,
    Proc,
    Stack,
    _chunks,
    _destroy_all,
    _kill_leftovers,
    qemu_pids,
    wait_console,
    wait_state,
)

pytestmark = pytest.mark.e2e

HOSTS = ("m1", "m2")
#: The guest writes a counter to its scratch disk's first sector every half second.
WRITER = ("#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); printf 'TASHI-DISK %08d\\n' $i "
          "| dd of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; sleep 0.5; done &\n")


@dataclass
class TwoHosts(Stack):
    """A manager, a scheduler and an agent per host of ``HOSTS``."""

    tokens: dict[str, str] | None = None

    def state(self, host: str) -> Path:
        return self.root / host

    def agent_of(self, host: str) -> Proc:
        assert self.tokens is not None
        return Proc([str(BIN / "tashi-agent"), "--manager-url", self.url, "--host", host,
                     "--state-dir", str(self.state(host)), "--image-dir", str(self.image_dir),
                     "--suspend-dir", str(self.suspend_dir), "--driver", "qemu",
                     "--accel", "auto"],
                    self.root / f"agent-{host}.log",
                    {"TASHI_AGENT_TOKEN": self.tokens[host], "TASHI_AGENT_ADDRESS": "127.0.0.1",
                     "TASHI_AGENT_HEARTBEAT_INTERVAL_S": "1", "TASHI_AGENT_RESYNC_S": "0.2",
                     "TASHI_AGENT_CPU_RATIO": "4"})

    def start_agent(self, host: str) -> None:
        self.procs[host] = self.agent_of(host).start()

    def pids(self, instance_id: int) -> dict[str, list[int]]:
        return {h: qemu_pids(instance_id, self.state(h)) for h in HOSTS}


@contextlib.asynccontextmanager
async def two_hosts(root: Path, guest_image: Path) -> AsyncIterator[tuple[TwoHosts, TashiClient]]:
    st = TwoHosts(root)
    st.start("manager")
    st.wait_manager()
    st.admin_token = st.read_admin_token()
    client = TashiClient(st.url, st.admin_token)
    try:
        st.tokens = {h: (await client.add_host(h)).token for h in HOSTS}
        for h in HOSTS:
            st.start_agent(h)
        st.start("scheduler")
        await client.upload_image("guest", _chunks(guest_image))
        for _ in range(200):
            hosts = await client.list_hosts()
            if len(hosts) == 2 and all(h.up and h.capabilities for h in hosts):
                break
            await asyncio.sleep(0.1)
        yield st, client
    finally:
        await _destroy_all(client)
        for proc in st.procs.values():
            proc.stop()
        await client.aclose()
        for h in HOSTS:
            _kill_leftovers(st.state(h))


async def running_vm(st: TwoHosts, client: TashiClient, name: str, host: str) -> InstanceOut:
    inst = await client.create_instance(InstanceCreate.model_validate(
        {"name": name, "image": "guest", "memory_mib": 128, "host": host,
         "disks": [{"scratch_gib": 1}], "user_data": WRITER}))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, "TASHI-GUEST-TICK 3")
    return await client.get_instance(inst.id)


def ticks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"TASHI-GUEST-TICK (\d+)", text)]


def disk_counter(st: TwoHosts, host: str, instance_id: int) -> int:
    (scratch,) = st.state(host).glob(f"qemu/instances/{instance_id}/disk1.raw")
    found = re.match(rb"TASHI-DISK (\d+)", scratch.read_bytes()[:64])
    assert found, scratch.read_bytes()[:64]
    return int(found.group(1))


async def migrated(client: TashiClient, instance_id: int, number: int,
                   timeout_s: float = 120) -> InstanceOut:
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await client.get_instance(instance_id)
        if inst.last_migration is not None and inst.last_migration.number == number \
                and inst.migration is None and inst.state == "Running":
            return inst
        assert inst.migration is not None, f"migration {number} ended: {inst.last_failure}"
        assert time.monotonic() < deadline, f"still {inst.state}: {inst.message}"
        await asyncio.sleep(0.1)


async def test_migrate_back_and_forth_keeps_the_guest_counting_and_its_disk(
        tmp_path: Path, guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "mover", "m1")
        assert st.pids(inst.id) == {"m1": [inst_pid := st.pids(inst.id)["m1"][0]], "m2": []}
        written = disk_counter(st, "m1", inst.id)
        assert written >= 1
        before = (time.monotonic(), max(ticks(await client.console(inst.id))))
        host = "m1"
        for number in range(1, 11):
            to = "m2" if host == "m1" else "m1"
            asked = await client.migrate_instance(
                inst.id, MigrateIn(to=to if number % 2 else None))
            assert asked.state in ("MigratePrep", "MigrateTrans"), asked
            assert asked.migration is not None
            assert asked.migration.target == to
            done = await migrated(client, inst.id, number)
            assert done.host == to, done
            result = done.last_migration
            assert result is not None
            assert (result.source, result.target) == (host, to)
            assert 0 < result.total_ms < 60_000, result
            assert 0 <= result.downtime_ms < 2_000, result
            for _ in range(100):  # the source's paused copy goes; one QEMU, on the target
                pids = st.pids(inst.id)
                if not pids[host]:
                    break
                await asyncio.sleep(0.1)
            assert pids[host] == [], pids
            assert len(pids[to]) == 1, pids
            assert pids[to] != [inst_pid]
            inst_pid = pids[to][0]
            # the guest counted on (a tick a second, of its own time): it lost no more
            # time than the downtime and a second (and a second for the tick's edges)
            await asyncio.sleep(2)
            text = await wait_console(client, inst.id, "TASHI-GUEST-TICK", timeout_s=30)
            after = (time.monotonic(), max(ticks(text)))
            lost = (after[0] - before[0]) - (after[1] - before[1])
            assert lost <= result.downtime_ms / 1000 + 2, (before, after, result)
            before = after
            # the disk came along and is written on the target
            now = disk_counter(st, to, inst.id)
            assert now > written, (now, written)
            written = now
            host = to
        events = await client.events(inst.id)
        assert sum(e.kind == "instance.migrated" and "done" in e.message for e in events) == 10
        # each target had the guest announce itself on its new host (QEMU took it)
        logs = "".join((st.root / f"agent-{h}.log").read_text() for h in HOSTS)
        assert logs.count("its NICs announced (announce-self)") == 10, logs[-3000:]


#: Seconds of memory transfer (time to meddle), and a downtime it surely converges within.
SLOW = MigrateIn(to="m2", bandwidth_mib_s=4, max_downtime_ms=2000)


async def under_way(client: TashiClient, instance_id: int, timeout_s: float = 60) -> InstanceOut:
    """The instance once its migration is sending memory."""
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await client.get_instance(instance_id)
        m = inst.migration
        if m is not None and m.phase == "memory" and (m.percent or 0) > 0:
            return inst
        assert m is not None, f"the migration ended early: {inst.last_failure}"
        assert time.monotonic() < deadline, f"never under way: {inst.state} {inst.message}"
        await asyncio.sleep(0.1)


async def runs_on_one_host(st: TwoHosts, client: TashiClient, instance_id: int,
                           host: str) -> InstanceOut:
    """It ends Running on ``host`` with its migration over, one QEMU of it in all."""
    deadline = time.monotonic() + 90
    while True:
        inst = await client.get_instance(instance_id)
        pids = st.pids(instance_id)
        if inst.state == "Running" and inst.migration is None and inst.host == host \
                and pids[host] and not [p for h, ps in pids.items() if h != host for p in ps]:
            assert len(pids[host]) == 1, pids
            return inst
        assert time.monotonic() < deadline, (inst.state, inst.host, inst.message, pids)
        await asyncio.sleep(0.2)


async def test_an_abort_leaves_the_vm_running_on_its_source(tmp_path: Path,
                                                            guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "stay", "m1")
        await client.migrate_instance(inst.id, SLOW)
        await under_way(client, inst.id)
        aborted = await client.abort_migration(inst.id)
        assert aborted.migration is None
        assert "aborted by user admin" in aborted.last_failure, aborted
        shown = await runs_on_one_host(st, client, inst.id, "m1")
        assert shown.last_migration is None
        ticks_before = max(ticks(await client.console(inst.id)))
        await asyncio.sleep(2.5)
        assert max(ticks(await client.console(inst.id))) >= ticks_before + 2  # it runs
        with pytest.raises(Exception, match="not migrating"):
            await client.abort_migration(inst.id)


async def test_a_killed_target_vm_fails_the_migration_and_the_source_runs_on(
        tmp_path: Path, guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "survivor", "m1")
        await client.migrate_instance(inst.id, SLOW)
        await under_way(client, inst.id)
        (target_pid,) = st.pids(inst.id)["m2"]
        os.kill(target_pid, signal.SIGKILL)
        shown = await runs_on_one_host(st, client, inst.id, "m1")
        assert "migration 1 to host m2 failed" in shown.last_failure, shown
        failed = [e for e in await client.events(inst.id) if "failed" in e.message]
        assert failed, "no event says the migration failed"


async def test_a_killed_target_agent_does_not_stop_the_move(tmp_path: Path,
                                                            guest_image: Path) -> None:
    """kill -9 of the target's agent (its QEMU lives on and takes the VM): the VM runs
    there, the source's copy stays paused until the agent is back, then goes."""
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "onward", "m1")
        await client.migrate_instance(inst.id, SLOW)
        await under_way(client, inst.id)
        st.procs["m2"].kill9()
        for _ in range(600):  # the migration ends meanwhile, the target's VM runs
            shown = await client.get_instance(inst.id)
            if shown.migration is not None and shown.migration.phase == "switching":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        assert shown.host == "m1", shown
        assert shown.state == "MigrateTrans", shown
        st.start_agent("m2")
        done = await runs_on_one_host(st, client, inst.id, "m2")
        assert done.last_migration is not None
        assert done.last_migration.number == 1


async def test_a_restarted_source_agent_takes_up_the_migration(tmp_path: Path,
                                                               guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "resumed", "m1")
        await client.migrate_instance(inst.id, SLOW)
        await under_way(client, inst.id)
        st.procs["m1"].kill9()
        st.start_agent("m1")
        done = await runs_on_one_host(st, client, inst.id, "m2")
        assert done.last_migration is not None
        assert done.last_migration.downtime_ms < 2_000, done.last_migration


async def test_a_restarted_manager_loses_no_migration(tmp_path: Path,
                                                      guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "kept", "m1")
        await client.migrate_instance(inst.id, SLOW)
        await under_way(client, inst.id)
        st.procs["manager"].kill9()
        await asyncio.sleep(1)
        st.start("manager")
        st.wait_manager()
        done = await runs_on_one_host(st, client, inst.id, "m2")
        assert done.last_migration is not None
        assert done.last_migration.number == 1


async def test_refusals_say_why(tmp_path: Path, guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        inst = await running_vm(st, client, "fixed", "m1")
        for body, words in ((MigrateIn(to="m1"), "runs there already"),
                            (MigrateIn(to="nowhere"), "host nowhere not found")):
            with pytest.raises(Exception, match=words):
                await client.migrate_instance(inst.id, body)
        await client.operate_instance(inst.id, "pause")
        await wait_state(client, inst.id, "Paused")
        with pytest.raises(Exception, match="it is Paused; migrate needs Running"):
            await client.migrate_instance(inst.id, MigrateIn())
        assert st.pids(inst.id)["m2"] == []
