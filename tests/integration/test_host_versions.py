"""Agents of another version than the manager's: their host goes VersionMismatch and
takes nothing new until an admin allows it, or its agent runs the manager's version."""

from __future__ import annotations

import asyncio

from tashi import __version__
from tashi.api.schemas import HeartbeatIn, InstanceCreate
from tests.integration.conftest import Rig


async def beat(rig: Rig, version: str) -> str:
    await rig.client(rig.tokens["node1"]).heartbeat("node1", HeartbeatIn(
        cores=8, memory_mib=8192, agent_version=version, hypervisor="fake"))
    return (await rig.admin.get_host("node1")).state


async def test_an_agent_of_another_version_is_trusted_only_when_an_admin_says(
        scheduled: Rig) -> None:
    rig = scheduled
    await rig.add_host("node1")
    assert (await rig.admin.get_host("node1")).state == "Normal"
    await rig.stop_agent("node1")
    assert await beat(rig, "9.9.0") == "VersionMismatch"
    events = [e.message for e in await rig.admin.list_events(host="node1")]
    assert (f"host node1: Normal -> VersionMismatch by the manager (its agent runs "
            f"version 9.9.0, not the manager's {__version__})") in events
    inst = await rig.admin.create_instance(InstanceCreate(name="web", image="guest"))
    await asyncio.sleep(1)
    shown = await rig.admin.get_instance(inst.id)
    assert (shown.state, shown.host) == ("Pending", None)
    assert "version mismatch" in shown.message, shown.message
    assert await beat(rig, "9.9.0") == "VersionMismatch"  # each beat: still
    await rig.admin.set_host_state("node1", "Normal")  # the admin allows it
    assert await beat(rig, "9.9.0") == "Normal"
    await rig.wait_for(inst.id, "Activating")
    assert await beat(rig, "9.9.1") == "VersionMismatch"  # another version again
    assert await beat(rig, __version__) == "Normal"  # upgraded to the manager's
    await rig.admin.set_host_state("node1", "Drained")
    assert await beat(rig, "9.9.2") == "Drained"  # a drained host stays drained
