"""What a user asks survives what hosts report: intent (spec) apart from observation
(status). Manager + scheduler + agents with the fake driver, over real HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from tashi.agent.drivers.fake import FakeDriver
from tashi.domain.derive import Observed
from tashi.domain.desired import Observation
from tashi.domain.errors import StaleGeneration
from tashi.domain.models import Instance
from tashi.domain.states import InstanceState, Power
from tests.integration.conftest import Rig
from tests.integration.test_cluster_lifecycle import vm


async def test_shutdown_asked_while_the_host_is_silent_happens_when_it_returns(
        scheduled: Rig) -> None:
    """The regression: ShuttingDown went Orphaned, the agent was told RUN, and the
    instance came back Running, the shutdown lost."""
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("quiet"))
    await scheduled.wait_for("quiet", "Running")
    await scheduled.stop_agent("h1")
    await scheduled.wait_for("quiet", "Orphaned", timeout_s=5)
    asked = await scheduled.admin.shutdown_instance("quiet")
    assert (asked.state, asked.power) == ("ShuttingDown", "stopped")
    await asyncio.sleep(1.5)  # the host stays silent a while: the intent is kept
    assert (await scheduled.admin.get_instance("quiet")).state == "ShuttingDown"
    await scheduled.start_agent("h1")
    exited = await scheduled.wait_for("quiet", "Exited", timeout_s=10)
    assert exited.observed == "stopped"
    assert driver.starts == 1
    await asyncio.sleep(0.5)  # and it stays so: never Running again
    assert (await scheduled.admin.get_instance(inst.id)).state == "Exited"


async def test_destroy_asked_while_the_host_is_silent_happens_when_it_returns(
        scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("gone"))
    await scheduled.wait_for("gone", "Running")
    await scheduled.stop_agent("h1")
    await scheduled.wait_for("gone", "Orphaned", timeout_s=5)
    await scheduled.admin.shutdown_instance("gone")
    out = await scheduled.admin.destroy_instance("gone")
    assert not out.deleted
    assert (await scheduled.admin.get_instance(inst.id)).state == "Destroying"
    await scheduled.start_agent("h1")
    for _ in range(100):
        if not await scheduled.admin.list_instances():
            break
        await asyncio.sleep(0.1)
    assert await scheduled.admin.list_instances() == []
    assert await driver.list_instances() == []


async def test_reports_never_make_a_users_write_fail(scheduled: Rig) -> None:
    """Agent reports write the status only: the generation a user's action read stays
    valid however many reports (changing what is observed) arrive before it writes."""
    await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("busy"))
    await scheduled.wait_for("busy", "Running")
    core = scheduled.core
    read = core.store.get_instance(inst.id)  # what the user's action read
    for n in range(10):  # reports racing the action, each changing the status
        seen = Observed.PAUSED if n % 2 else Observed.RUNNING
        assert core.reports.apply("h1", [Observation(id=inst.id, observed=seen,
                                                     detail=f"report {n}")]) == 0
    assert core.store.get_instance(inst.id).status.message != read.status.message
    stopped = core.instances.change_spec(read, replace(read.spec, power=Power.STOPPED),
                                         "shutdown asked by the test")  # no Conflict
    assert (stopped.state, stopped.generation) == (InstanceState.SHUTTING_DOWN,
                                                   read.generation + 1)
    await scheduled.wait_for("busy", "Exited", timeout_s=10)


async def test_a_retried_shutdown_or_destroy_succeeds(scheduled: Rig) -> None:
    """A request retried after its first attempt took (its answer lost) is answered with
    the instance as it is, not 409 "cannot go from Destroying to Destroying"."""
    await scheduled.add_host("h1", FakeDriver(cores=8, memory_mib=8192, stop_delay_s=30))
    await scheduled.admin.create_instance(vm("twice"))
    await scheduled.wait_for("twice", "Running")
    first = await scheduled.admin.shutdown_instance("twice")
    again = await scheduled.admin.shutdown_instance("twice")
    assert (first.state, again.state) == ("ShuttingDown", "ShuttingDown")
    assert again.generation == first.generation  # nothing written the second time
    gone = await scheduled.admin.destroy_instance("twice")
    retried = await scheduled.admin.destroy_instance("twice")
    assert gone.instance is not None
    assert retried.instance is not None
    assert (gone.deleted, retried.deleted) == (False, False)
    assert retried.instance.state == "Destroying"
    assert retried.instance.generation == gone.instance.generation


async def test_a_users_action_racing_a_binding_is_done_on_what_it_became(
        scheduled: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user names no generation: a write between the action's read and its own
    (here: one stale answer from the store, as when a binding lands in between) makes
    the manager read again and do it, not answer "generation N is stale"."""
    rig = scheduled
    await rig.add_host("h1")
    inst = await rig.admin.create_instance(vm("raced"))
    await rig.wait_for(inst.id, "Running")
    real = rig.core.store.update_instance
    stale = iter([True])

    def once_stale(instance_id: int, **changes: Any) -> Instance:
        if next(stale, False):
            raise StaleGeneration(f"instance {instance_id}: generation is stale (test)")
        return real(instance_id, **changes)

    monkeypatch.setattr(rig.core.store, "update_instance", once_stale)
    shown = await rig.admin.shutdown_instance(inst.id)
    assert shown.power == "stopped"
    assert next(stale, None) is None  # the stale answer was met, and read past


async def test_a_report_never_undoes_a_write_that_came_after_its_read(
        scheduled: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration's switch (a spec write, with the figures in the status) landing
    between a report's read and its write was undone by it once: the status it made
    from the old read went in over the new one (CI: a migration's figures lost). The
    report's write is left out, then applied again to the instance as it is now."""
    rig = scheduled
    await rig.add_host("h1")
    inst = await rig.admin.create_instance(vm("raced-report"))
    await rig.wait_for(inst.id, "Running")
    store = rig.core.store
    real = store.set_instance_statuses
    between = iter([True])

    def with_a_write_between(statuses: Any) -> Any:
        if next(between, False):
            now = store.get_instance(inst.id)
            store.update_instance(inst.id, generation=now.generation,
                                  spec=replace(now.spec, reboots=now.spec.reboots + 1),
                                  status=replace(now.status, last_failure="written between"))
        return real(statuses)

    monkeypatch.setattr(store, "set_instance_statuses", with_a_write_between)
    rig.core.reports.apply("h1", [Observation(id=inst.id, observed=Observed.PAUSED,
                                              detail="seen paused")])
    after = store.get_instance(inst.id)
    assert after.status.last_failure == "written between"  # not undone
    assert after.status.observed == "paused"  # and the report applied, to what it is now
