"""Pause and unpause, end to end on the fake driver: API -> spec -> agent -> status."""

from __future__ import annotations

import asyncio

import pytest

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tashi.domain.derive import Observed
from tashi.domain.errors import InvalidTransition, NotFound
from tests.integration.conftest import Rig


class NoPauseDriver(FakeDriver):
    """A driver without the optional Pausable protocol."""

    pause = None  # type: ignore[assignment]
    unpause = None  # type: ignore[assignment]


async def running(rig: Rig, name: str = "web") -> int:
    inst = await rig.admin.create_instance(InstanceCreate(name=name, image="guest"))
    await rig.wait_for(inst.id, "Running")
    return inst.id


async def test_pause_then_unpause(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    asked = await scheduled.admin.operate_instance("web", "pause")
    assert asked.state in ("Pausing", "Paused")
    await scheduled.wait_for(iid, "Paused")
    assert [s.observed for s in await driver.list_instances()] == [Observed.PAUSED]
    with pytest.raises(InvalidTransition,
                       match="cannot pause web: it is Paused; pause needs Running or Unpausing"):
        await scheduled.admin.operate_instance("web", "pause")
    await scheduled.admin.operate_instance("web", "unpause")
    await scheduled.wait_for(iid, "Running")
    assert [s.observed for s in await driver.list_instances()] == [Observed.RUNNING]
    assert driver.starts == 1  # the same VM throughout
    with pytest.raises(InvalidTransition, match="unpause needs Pausing or Paused"):
        await scheduled.admin.operate_instance("web", "unpause")
    kinds = [e.message.split(":")[0] for e in await scheduled.admin.events("web")]
    for step in ("Running -> Pausing", "Pausing -> Paused", "Paused -> Unpausing",
                 "Unpausing -> Running"):
        assert step in kinds, kinds


async def test_a_paused_instance_shuts_down(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.operate_instance(iid, "pause")
    await scheduled.wait_for(iid, "Paused")
    await scheduled.admin.shutdown_instance(iid)
    await scheduled.wait_for(iid, "Exited")


async def test_a_pause_asked_while_the_agent_is_down_happens_when_it_is_back(
        scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.stop_agent("h1")
    assert (await scheduled.admin.operate_instance(iid, "pause")).state == "Pausing"
    await scheduled.start_agent("h1")
    await scheduled.wait_for(iid, "Paused")
    assert driver.starts == 1


async def test_a_host_that_cannot_pause_refuses(scheduled: Rig) -> None:
    await scheduled.add_host("h1", NoPauseDriver())
    iid = await running(scheduled)
    with pytest.raises(InvalidTransition,
                       match=r"cannot pause web: host h1 cannot \(its fake driver cannot pause\)"):
        await scheduled.admin.operate_instance(iid, "pause")
    assert (await scheduled.admin.get_instance(iid)).state == "Running"


async def test_pause_needs_a_running_instance_of_ones_own(scheduled: Rig) -> None:
    await scheduled.admin.create_instance(InstanceCreate(name="waits", image="guest"))
    with pytest.raises(InvalidTransition,
                       match="cannot pause waits: it is Pending; pause needs Running"):
        await scheduled.admin.operate_instance("waits", "pause")
    await scheduled.add_host("h1")
    await scheduled.wait_for("waits", "Running")
    bob = scheduled.client((await scheduled.admin.add_user("bob", "user")).token)
    with pytest.raises(NotFound):
        await bob.operate_instance("waits", "pause")


async def rebooted(rig: Rig, iid: int, number: int, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (done := (await rig.admin.get_instance(iid)).reboots_done) < number:
        assert asyncio.get_running_loop().time() < deadline, f"reboots done: {done}"
        await asyncio.sleep(0.05)


async def test_reboot_is_counted_and_carried_out_once(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    iid = await running(scheduled)
    asked = await scheduled.admin.reboot_instance(iid)
    assert (asked.state, asked.reboots) == ("Running", 1)
    await rebooted(scheduled, iid, 1)
    await scheduled.wait_console(iid, "simulated reboot")
    await scheduled.stop_agent("h1")  # a restarted agent does not reboot it again
    await scheduled.start_agent("h1")
    await asyncio.sleep(0.5)
    assert (await scheduled.admin.console(iid)).count("simulated reboot") == 1
    assert (await scheduled.admin.reboot_instance(iid, hard=True)).reboots == 2
    await rebooted(scheduled, iid, 2)
    await scheduled.wait_console(iid, "simulated reset")
    assert driver.starts == 1
    kinds = [(e.kind, e.message) for e in await scheduled.admin.events(str(iid))]
    assert ("instance.asked", "reboot 1 (soft: the guest's own reboot) asked by user admin") \
        in kinds, kinds
    assert any(k == "instance.rebooted" and m.startswith("reboot 2 done") for k, m in kinds)
    await scheduled.admin.operate_instance(iid, "pause")
    await scheduled.wait_for(iid, "Paused")
    with pytest.raises(InvalidTransition, match="cannot reboot web: it is Paused; reboot "
                                                "needs Running"):
        await scheduled.admin.reboot_instance(iid)
