"""The whole stack with real QEMU: manager, scheduler and agent processes, a real
guest booted from a real disk image through the firmware."""

from __future__ import annotations

import asyncio

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tests.e2e.conftest import Stack, qemu_pids, sha256, wait_console, wait_state

pytestmark = pytest.mark.e2e

READY = "TASHI-GUEST-READY"


def vm(name: str, **kw: object) -> InstanceCreate:
    return InstanceCreate.model_validate({"name": name, "image": "guest", "memory_mib": 128,
                                          **kw})


async def test_boot_console_graceful_shutdown_then_destroy(
        stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    image = st.image_dir / "guest"
    before = sha256(image)
    inst = await client.create_instance(vm("e2e-one"))
    running = await wait_state(client, inst.id, "Running")
    assert running.host == "e2e-host"
    console = await wait_console(client, inst.id, READY)
    assert "TASHI-GUEST-DISK-WRITTEN" in console  # the guest wrote to its disk...
    assert len(qemu_pids(inst.id, st.agent_state)) == 1
    await client.shutdown_instance(inst.id)
    exited = await wait_state(client, inst.id, "Exited", timeout_s=60)
    assert exited.observed == "stopped"
    assert qemu_pids(inst.id, st.agent_state) == []
    assert sha256(image) == before  # ...but the image is byte-identical
    await client.destroy_instance(inst.id)
    for _ in range(100):
        if not await client.list_instances():
            break
        await asyncio.sleep(0.2)
    assert await client.list_instances() == []
    assert not (st.agent_state / "qemu" / "instances" / str(inst.id)).exists()


async def test_destroy_running_vm_kills_it(stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    inst = await client.create_instance(vm("e2e-kill"))
    await wait_state(client, inst.id, "Running")
    assert len(qemu_pids(inst.id, st.agent_state)) == 1
    await client.destroy_instance(inst.id)
    for _ in range(150):
        if not qemu_pids(inst.id, st.agent_state) and not await client.list_instances():
            break
        await asyncio.sleep(0.2)
    assert qemu_pids(inst.id, st.agent_state) == []
    assert await client.list_instances() == []


async def test_agent_kill9_then_restart_readopts_same_qemu(
        stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    inst = await client.create_instance(vm("e2e-adopt"))
    await wait_state(client, inst.id, "Running")
    [pid] = qemu_pids(inst.id, st.agent_state)
    st.procs["agent"].kill9()
    await asyncio.sleep(2)
    assert qemu_pids(inst.id, st.agent_state) == [pid]  # the VM outlives its agent
    st.start("agent")
    await wait_console(client, inst.id, READY)
    await asyncio.sleep(3)  # several converge passes of the new agent
    assert qemu_pids(inst.id, st.agent_state) == [pid]  # re-adopted: no restart, no duplicate
    assert (await client.get_instance(inst.id)).state == "Running"
    await client.shutdown_instance(inst.id)  # and the new agent controls it
    await wait_state(client, inst.id, "Exited", timeout_s=60)
    assert qemu_pids(inst.id, st.agent_state) == []


async def test_manager_restart_loses_nothing(stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    inst = await client.create_instance(vm("e2e-survive"))
    await wait_state(client, inst.id, "Running")
    [pid] = qemu_pids(inst.id, st.agent_state)
    st.procs["manager"].kill9()
    await asyncio.sleep(2)
    st.start("manager")
    st.wait_manager()
    again = await wait_state(client, inst.id, "Running")
    assert again.generation >= 1
    assert again.host == "e2e-host"
    await asyncio.sleep(3)
    assert qemu_pids(inst.id, st.agent_state) == [pid]
    assert (await client.get_instance(inst.id)).state == "Running"
    assert [h.up for h in await client.list_hosts()] == [True]
