"""Suspend and resume, end to end on the fake driver: API -> spec -> agent -> saved
state -> unbound -> scheduler -> another host -> running again."""

from __future__ import annotations

import pytest

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tashi.domain.errors import InvalidTransition
from tests.integration.conftest import Rig


class NoSuspendDriver(FakeDriver):
    """A driver without the optional Suspendable protocol."""

    suspend = None  # type: ignore[assignment]
    resume = None  # type: ignore[assignment]


async def running(rig: Rig, name: str = "web") -> int:
    inst = await rig.admin.create_instance(InstanceCreate(name=name, image="guest"))
    await rig.wait_for(inst.id, "Running")
    return inst.id


async def test_suspend_frees_the_host_and_resume_goes_on(scheduled: Rig) -> None:
    d1 = await scheduled.add_host("h1")
    iid = await running(scheduled)
    d1.write_console(iid, "TASHI-GUEST-TICK 7\n")
    asked = await scheduled.admin.operate_instance("web", "suspend")
    assert asked.state == "Suspending"
    assert asked.power == "suspended"
    done = await scheduled.wait_for(iid, "Suspended")
    assert done.host is None
    assert done.saved
    assert await d1.list_instances() == []
    assert "saved in the suspend directory" in done.message
    assert (scheduled.image_dir.parent / "suspend" / str(iid) / "fake-vm.json").exists()
    host = await scheduled.admin.get_host("h1")
    assert host.claims == []  # its claim is released
    with pytest.raises(InvalidTransition,
                       match="cannot pause web: it is Suspended; pause needs Running"):
        await scheduled.admin.operate_instance("web", "pause")

    await scheduled.admin.set_host_state("h1", "Drained")  # so it resumes elsewhere
    d2 = await scheduled.add_host("h2")
    resumed = await scheduled.admin.operate_instance("web", "resume")
    assert resumed.state == "Resuming"
    back = await scheduled.wait_for(iid, "Running")
    assert back.host == "h2"
    assert not back.saved
    assert "TASHI-GUEST-TICK 7" in await d2.console(iid, 10_000)  # the same guest
    assert not (scheduled.image_dir.parent / "suspend" / str(iid)).exists()
    steps = [e.message.split(":")[0] for e in await scheduled.admin.events("web")]
    for step in ("Running -> Suspending", "Suspending -> Suspended", "Suspended -> Resuming",
                 "Resuming -> Running"):
        assert step in steps, steps


async def test_a_paused_instance_suspends(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.operate_instance(iid, "pause")
    await scheduled.wait_for(iid, "Paused")
    await scheduled.admin.operate_instance(iid, "suspend")
    await scheduled.wait_for(iid, "Suspended")
    await scheduled.admin.operate_instance(iid, "resume")
    await scheduled.wait_for(iid, "Running")


async def test_a_suspend_that_cannot_write_leaves_it_running(scheduled: Rig) -> None:
    d1 = await scheduled.add_host("h1")
    iid = await running(scheduled)
    suspend_dir = scheduled.image_dir.parent / "suspend"
    suspend_dir.parent.mkdir(parents=True, exist_ok=True)
    suspend_dir.write_text("not a directory")  # so no state can be saved there
    await scheduled.admin.operate_instance(iid, "suspend")
    inst = await scheduled.wait_for(iid, "Running")
    assert inst.power == "running"
    assert not inst.saved
    assert inst.last_failure.startswith("suspend failed on host h1: suspend failed: cannot "
                                        "write to the suspend directory"), inst.last_failure
    assert d1.starts == 1
    assert [v.instance_id for v in await d1.list_instances()] == [iid]


async def test_a_resume_that_fails_keeps_it_suspended_with_its_state(scheduled: Rig) -> None:
    fail = {"on": False}
    d1 = await scheduled.add_host("h1", FakeDriver(
        fail_start=lambda r: "no room for its memory" if fail["on"] else None))
    iid = await running(scheduled)
    await scheduled.admin.operate_instance(iid, "suspend")
    await scheduled.wait_for(iid, "Suspended")
    fail["on"] = True
    await scheduled.admin.operate_instance(iid, "resume")
    inst = await scheduled.wait_for(iid, "Suspended")
    assert inst.saved
    assert inst.host is None
    assert inst.last_failure.startswith("resume failed on host h1, still suspended: "
                                        "resume failed: "), inst.last_failure
    assert "no room for its memory" in inst.message
    assert (scheduled.image_dir.parent / "suspend" / str(iid) / "fake-vm.json").exists()
    fail["on"] = False
    await scheduled.admin.operate_instance(iid, "resume")
    await scheduled.wait_for(iid, "Running")
    assert d1.starts == 2


async def test_suspend_needs_a_host_that_can(scheduled: Rig) -> None:
    await scheduled.add_host("h1", NoSuspendDriver())
    iid = await running(scheduled)
    with pytest.raises(InvalidTransition, match=r"cannot suspend web: host h1 cannot "
                                                r"\(its fake driver cannot suspend\)"):
        await scheduled.admin.operate_instance(iid, "suspend")
    with pytest.raises(InvalidTransition, match="resume needs Suspended"):
        await scheduled.admin.operate_instance(iid, "resume")


async def test_resume_waits_for_a_host_that_can_restore(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    iid = await running(scheduled)
    await scheduled.admin.operate_instance(iid, "suspend")
    await scheduled.wait_for(iid, "Suspended")
    await scheduled.admin.set_host_state("h1", "Drained")
    await scheduled.add_host("h2", NoSuspendDriver())
    await scheduled.admin.operate_instance(iid, "resume")
    inst = await scheduled.wait_pending(iid, "lack the suspend ability", state="Resuming")
    assert inst.host is None
    assert inst.saved
    await scheduled.admin.set_host_state("h1", "Normal")
    assert (await scheduled.wait_for(iid, "Running")).host == "h1"
