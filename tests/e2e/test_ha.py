"""HA restarts on real QEMU (TCG), two hosts (tests/e2e/test_migration.py's): kill -9
of host m1's agent together with an HA instance's QEMU; that one and an HA instance
whose QEMU lived on start again on m2 from the image once m1's lease ran out (10 s,
the manager's heartbeat timeout here), a non-HA one waits Orphaned; when m1's agent
comes back it destroys the copy that lived on (fencing) and adopts the non-HA one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate, InstanceOut
from tashi.client import TashiClient
from tests.e2e.conftest import qemu_pids, wait_console, wait_state
from tests.e2e.test_migration import TwoHosts, ticks, two_hosts

pytestmark = pytest.mark.e2e


async def vm(client: TashiClient, name: str, *, ha: bool) -> InstanceOut:
    inst = await client.create_instance(InstanceCreate(name=name, image="guest",
                                                       memory_mib=128, host="m1", ha=ha))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, "TASHI-GUEST-TICK 2")
    return await client.get_instance(inst.id)


async def running_on(client: TashiClient, instance_id: int, host: str,
                     timeout_s: float = 120) -> InstanceOut:
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await client.get_instance(instance_id)
        if (inst.state, inst.host) == ("Running", host):
            return inst
        assert time.monotonic() < deadline, f"{inst.name}: {inst.state} on {inst.host}: " \
                                            f"{inst.message}"
        await asyncio.sleep(0.2)


async def gone_from(st: TwoHosts, instance_id: int, host: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while qemu_pids(instance_id, st.state(host)):
        assert time.monotonic() < deadline, f"instance {instance_id} still runs on {host}"
        await asyncio.sleep(0.2)


async def test_ha_instances_restart_elsewhere_after_kill_9_of_their_host(
        tmp_path: Path, guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        keeper = await vm(client, "keeper", ha=True)
        stale = await vm(client, "stale", ha=True)
        plain = await vm(client, "plain", ha=False)
        (plain_pid,) = qemu_pids(plain.id, st.state("m1"))
        (stale_pid,) = qemu_pids(stale.id, st.state("m1"))
        st.procs["m1"].kill9()  # the host dies: its agent and the keeper's VM
        for pid in qemu_pids(keeper.id, st.state("m1")):
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        moved = {i.id: await running_on(client, i.id, "m2") for i in (keeper, stale)}
        for inst in moved.values():
            r = inst.restarted
            assert r is not None
            assert (r.number, r.host) == (1, "m1")
            assert inst.recovered_at is not None
            took = (inst.recovered_at - r.heard_at).total_seconds()
            assert 10 <= took < 120, (took, inst)  # at least the lease
            print(f"{inst.name}: {took:.1f} s from m1's last heartbeat to Running on m2 "
                  f"({time.monotonic() - killed:.1f} s after kill -9)")
            assert len(qemu_pids(inst.id, st.state("m2"))) == 1
            # booted anew from the image: its guest counts from 1 again
            text = await wait_console(client, inst.id, "TASHI-GUEST-TICK 2", timeout_s=120)
            assert ticks(text)[0] == 1, text[-500:]
        left = await client.get_instance(plain.id)
        assert (left.state, left.host, left.restarted) == ("Orphaned", "m1", None)
        # the stale copy lived on while m1's agent was dead; back, the agent ends it
        assert qemu_pids(stale.id, st.state("m1")) == [stale_pid]
        st.start_agent("m1")
        await gone_from(st, stale.id, "m1")
        assert (await running_on(client, plain.id, "m1")).id == plain.id
        assert qemu_pids(plain.id, st.state("m1")) == [plain_pid]  # adopted, never restarted
        assert qemu_pids(stale.id, st.state("m2")) != []
        shown = await client.get_instance(stale.id)
        assert shown.state == "Running"
        assert shown.host == "m2"
