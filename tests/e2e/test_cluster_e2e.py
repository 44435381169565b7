"""The whole stack with real QEMU: manager, scheduler and agent processes, a real
guest booted from a real disk image through the firmware."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tests.e2e.conftest import Stack, qemu_pids, sha256, wait_console, wait_state

pytestmark = pytest.mark.e2e

READY = "TASHI-GUEST-READY"
POWEROFF = "TASHI-GUEST-POWEROFF"
GUEST_IP = re.compile(r"TASHI-GUEST-IP (10\.0\.2\.\d+)")  # slirp's DHCP range
# the guest powered off; a kill after the timeout says "QEMU process killed by signal 9
# (by the agent: still running N s after the power button)"
GRACEFUL_EXIT = "QEMU process exited with code 0 after the power button"


def vm(name: str, **kw: object) -> InstanceCreate:
    return InstanceCreate.model_validate({"name": name, "image": "guest", "memory_mib": 128,
                                          **kw})


def runtime_dir(st: Stack, instance_id: int) -> Path:
    """The instance's runtime directory (record, sockets, logs, overlays) on the agent."""
    return st.agent_state / "qemu" / "instances" / str(instance_id)


async def event_messages(client: TashiClient, ref: str | int) -> list[str]:
    return [e.message for e in await client.events(ref)]


async def test_boot_console_graceful_shutdown_then_destroy(
        stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    image = st.image_dir / "admin" / "guest"  # the admin's image, in its namespace
    before = sha256(image)
    inst = await client.create_instance(vm("e2e-one", shutdown_timeout_s=120))
    running = await wait_state(client, inst.id, "Running")
    assert running.host == "e2e-host"
    console = await wait_console(client, inst.id, READY)
    assert "TASHI-GUEST-DISK-WRITTEN" in console  # the guest wrote to its disk...
    assert GUEST_IP.search(console), console[-2000:]  # ...and got an address by DHCP
    assert len(qemu_pids(inst.id, st.agent_state)) == 1
    asked = time.monotonic()
    await client.shutdown_instance(inst.id)
    exited = await wait_state(client, inst.id, "Exited", timeout_s=150)
    took_s = time.monotonic() - asked
    # Graceful, not the kill after the timeout: the guest saw the power button, QEMU
    # exited by itself, and well before the 120 s timeout. The agent reports the
    # console with the stop, so it is already there when the instance is Exited.
    assert POWEROFF in await client.console(inst.id)
    assert exited.message == GRACEFUL_EXIT
    assert took_s < 60, f"{took_s:.1f} s to Exited"
    assert exited.observed == "stopped"
    assert qemu_pids(inst.id, st.agent_state) == []
    assert sha256(image) == before  # ...but the image is byte-identical
    await client.destroy_instance(inst.id)
    for _ in range(100):
        if not await client.list_instances():
            break
        await asyncio.sleep(0.2)
    assert await client.list_instances() == []
    assert not runtime_dir(st, inst.id).exists()


async def test_destroy_running_vm_kills_it(stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    inst = await client.create_instance(vm("e2e-kill"))
    await wait_state(client, inst.id, "Running")
    assert len(qemu_pids(inst.id, st.agent_state)) == 1
    assert (runtime_dir(st, inst.id) / "disk0.qcow2").is_file()  # its overlay
    await client.destroy_instance(inst.id)
    for _ in range(150):
        if not qemu_pids(inst.id, st.agent_state) and not await client.list_instances():
            break
        await asyncio.sleep(0.2)
    assert qemu_pids(inst.id, st.agent_state) == []
    assert await client.list_instances() == []
    assert not runtime_dir(st, inst.id).exists()  # files and overlay removed


async def test_qemu_killed_from_outside_is_reported_exited(
        stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    victim = await client.create_instance(vm("e2e-victim"))
    bystander = await client.create_instance(vm("e2e-bystander"))
    await wait_state(client, victim.id, "Running")
    await wait_state(client, bystander.id, "Running")
    [pid] = qemu_pids(victim.id, st.agent_state)
    [other] = qemu_pids(bystander.id, st.agent_state)
    os.kill(pid, signal.SIGKILL)
    exited = await wait_state(client, victim.id, "Exited", timeout_s=60)
    assert exited.observed == "stopped"
    assert exited.host == "e2e-host"
    assert exited.message == "QEMU process killed by signal 9"
    assert "Running -> Exited: QEMU process killed by signal 9" in \
        await event_messages(client, victim.id)
    assert runtime_dir(st, victim.id).is_dir()  # Exited keeps its files
    await wait_console(client, bystander.id, READY)  # the other VM boots on
    assert qemu_pids(victim.id, st.agent_state) == []  # reported, never started again
    assert qemu_pids(bystander.id, st.agent_state) == [other]
    assert (await client.get_instance(bystander.id)).state == "Running"
    assert (await client.get_instance(victim.id)).state == "Exited"
    [host] = await client.list_hosts()
    assert (host.name, host.up, host.state) == ("e2e-host", True, "Normal")


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


async def test_shutdown_asked_while_the_host_is_silent_powers_the_vm_off_on_return(
        stack: tuple[Stack, TashiClient]) -> None:
    """Intent survives a silent host: the VM keeps running while its agent is gone; the
    shutdown asked meanwhile reaches the guest (its power button) once the agent is back."""
    st, client = stack
    inst = await client.create_instance(vm("e2e-silent", shutdown_timeout_s=120))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, READY)
    [pid] = qemu_pids(inst.id, st.agent_state)
    st.procs["agent"].kill9()
    await wait_state(client, inst.id, "Orphaned", timeout_s=60)  # heartbeat timeout 10 s
    asked = await client.shutdown_instance(inst.id)
    assert (asked.state, asked.power) == ("ShuttingDown", "stopped")
    assert qemu_pids(inst.id, st.agent_state) == [pid]  # nothing could act on it yet
    st.start("agent")
    await wait_state(client, inst.id, "Exited", timeout_s=120)
    assert POWEROFF in await client.console(inst.id)  # the guest saw the power button
    assert qemu_pids(inst.id, st.agent_state) == []


async def test_manager_restart_loses_nothing(stack: tuple[Stack, TashiClient]) -> None:
    st, client = stack
    inst = await client.create_instance(vm("e2e-survive"))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, READY)
    events = await event_messages(client, inst.id)
    assert any(m.startswith("Activating -> Running") for m in events), events
    [pid] = qemu_pids(inst.id, st.agent_state)
    st.procs["manager"].kill9()
    await asyncio.sleep(2)
    st.start("manager")
    st.wait_manager()
    again = await wait_state(client, inst.id, "Running")
    assert again.generation >= 1
    assert again.host == "e2e-host"
    assert (await event_messages(client, inst.id))[:len(events)] == events
    assert READY in await client.console(inst.id)
    await asyncio.sleep(3)
    assert qemu_pids(inst.id, st.agent_state) == [pid]
    assert (await client.get_instance(inst.id)).state == "Running"
    assert [h.up for h in await client.list_hosts()] == [True]
    await client.shutdown_instance(inst.id)  # the restarted manager still commands it
    exited = await wait_state(client, inst.id, "Exited", timeout_s=60)
    assert exited.message == GRACEFUL_EXIT
    assert POWEROFF in await client.console(inst.id)
    assert qemu_pids(inst.id, st.agent_state) == []
    assert (await event_messages(client, inst.id))[:len(events)] == events
