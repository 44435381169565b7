"""Host evacuation on the fake driver (which cannot move live, but suspends): those that
run are suspended and resumed elsewhere, paused ones left suspended, then the host is
Drained; a drain stops it. Live moves run on real QEMU in tests/e2e/test_migration.py."""

from __future__ import annotations

import asyncio

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tests.integration.conftest import Rig


async def host_state(rig: Rig, name: str, state: str, timeout_s: float = 20) -> None:
    for _ in range(int(timeout_s * 10)):
        if (await rig.admin.get_host(name)).state == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"host {name} is {(await rig.admin.get_host(name)).state}")


async def test_an_evacuated_host_is_left_empty_and_drained(scheduled: Rig) -> None:
    rig = scheduled
    d1 = await rig.add_host("h1")
    ids = []
    for name in ("web", "db", "idle"):
        inst = await rig.admin.create_instance(InstanceCreate(name=name, image="guest",
                                                              host="h1"))
        ids.append((await rig.wait_for(inst.id, "Running")).id)
        d1.write_console(inst.id, f"TASHI-GUEST-TICK {inst.id}\n")
    await rig.admin.operate_instance("idle", "pause")
    await rig.wait_for("idle", "Paused")
    d2 = await rig.add_host("h2")
    shown = await rig.admin.set_host_state("h1", "Evacuating")
    assert shown.state == "Evacuating"
    await host_state(rig, "h1", "Drained")
    for iid in ids[:2]:  # suspended, resumed on h2: the same guests
        inst = await rig.wait_for(iid, "Running")
        assert inst.host == "h2"
        assert f"TASHI-GUEST-TICK {iid}" in await d2.console(iid, 10_000)
        assert inst.target_host == "h1" or inst.target_host is None
    idle = await rig.wait_for(ids[2], "Suspended")
    assert (idle.host, idle.saved) == (None, True)
    assert await d1.list_instances() == []
    events = [e.message for e in await rig.admin.list_events(host="h1")]
    assert any("Evacuating -> Drained by the evacuation of host h1" in m for m in events), events
    steps = [e.message for e in await rig.admin.events("web")]
    assert any("suspend asked by the evacuation of host h1 (resumed elsewhere once saved)"
               in m for m in steps), steps
    # nothing new goes on it
    extra = await rig.admin.create_instance(InstanceCreate(name="extra", image="guest"))
    assert (await rig.wait_for(extra.id, "Running")).host == "h2"


async def test_a_drain_stops_an_evacuation(scheduled: Rig) -> None:
    rig = scheduled
    await rig.add_host("h1", FakeDriver(cores=8, memory_mib=8192, start_delay_s=3))
    await rig.add_host("h2")
    inst = await rig.admin.create_instance(InstanceCreate(name="web", image="guest",
                                                          host="h1"))
    await rig.wait_for(inst.id, "Activating")
    await rig.admin.set_host_state("h1", "Evacuating")
    await asyncio.sleep(1.5)  # it waits for the VM to run
    assert (await rig.admin.get_host("h1")).state == "Evacuating"
    await rig.admin.set_host_state("h1", "Drained")  # the admin stops it
    running = await rig.wait_for(inst.id, "Running")
    await asyncio.sleep(1.5)
    shown = await rig.admin.get_instance(inst.id)
    assert (running.host, shown.host, shown.state) == ("h1", "h1", "Running")
