"""HA restarts on the fake driver: an HA instance whose host stopped heartbeating is
restarted on another host once the host's lease ran out (others stay Orphaned); an
agent cut off from the manager pauses its HA instances before that, and when it hears
the manager again destroys those now bound elsewhere and unpauses those still its own.
Real QEMU, kill -9 and the time to Running: tests/e2e/test_ha.py."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

from click.testing import CliRunner

from tashi.agent.drivers.base import VmStatus
from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.service import Agent
from tashi.api.schemas import InstanceCreate, InstanceOut
from tashi.cmd.cli import main
from tashi.domain.derive import Observed
from tests.integration.conftest import Rig
from tests.integration.cuttable import Cuttable


async def observed(driver: FakeDriver, instance_id: int) -> Observed | None:
    seen: dict[int, VmStatus] = {s.instance_id: s for s in await driver.list_instances()}
    return seen[instance_id].observed if instance_id in seen else None


async def until(what: str, check: object, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


async def running_on(rig: Rig, instance_id: int, host: str,
                     timeout_s: float = 15) -> InstanceOut:
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await rig.admin.get_instance(instance_id)
        if (inst.state, inst.host) == ("Running", host):
            return inst
        if time.monotonic() > deadline:
            raise AssertionError(f"instance {instance_id} is {inst.state} on {inst.host}: "
                                 f"{inst.message}")
        await asyncio.sleep(0.05)


async def two_hosts(rig: Rig) -> tuple[FakeDriver, FakeDriver, int, int]:
    """h1 and h2; on h1 ``web`` (HA) and ``plain`` (not), both Running."""
    d1 = await rig.add_host("h1")
    d2 = await rig.add_host("h2")
    ids = []
    for name, ha in (("web", True), ("plain", False)):
        inst = await rig.admin.create_instance(InstanceCreate(name=name, image="guest",
                                                              host="h1", ha=ha))
        assert inst.ha is ha
        ids.append((await rig.wait_for(inst.id, "Running")).id)
    return d1, d2, ids[0], ids[1]


async def test_an_ha_instance_restarts_elsewhere_once_its_host_is_down(scheduled: Rig) -> None:
    rig = scheduled
    d1, d2, web, plain = await two_hosts(rig)
    await rig.stop_agent("h1")  # a dead agent: its VMs run on, nobody pauses them
    moved = await running_on(rig, web, "h2")
    assert moved.restarted is not None
    assert (moved.restarted.number, moved.restarted.host) == (1, "h1")
    assert moved.recovered_at is not None
    assert moved.recovered_at > moved.restarted.at > moved.restarted.heard_at
    steps = [e.message for e in await rig.admin.events(web)]
    assert any("Orphaned -> Pending: HA restart 1: host h1 silent" in m
               and "started again from its image elsewhere" in m for m in steps), steps
    assert any("running again on host h2" in m and "after host h1 was last heard" in m
               for m in steps), steps
    left = await rig.admin.get_instance(plain)
    assert (left.state, left.host, left.restarted) == ("Orphaned", "h1", None)
    assert await observed(d2, web) is Observed.RUNNING
    assert await observed(d1, web) is Observed.RUNNING  # the stale copy, agent dead
    await rig.start_agent("h1")  # back: it runs only what is bound to it
    await until("h1 destroyed its copy of web", lambda: _absent(d1, web))
    assert (await rig.wait_for(plain, "Running")).host == "h1"
    assert await observed(d1, plain) is Observed.RUNNING
    shown = await cli(rig, "vm", "show", "web")
    assert re.search(r"high availability: on; restart 1: host h1 last heard \S+ ago, "
                     r"restarted \d+\.\d s later \(its overlay there lost\), running again "
                     r"\d+\.\d s after the last heartbeat", shown), shown
    assert "high availability: off" in await cli(rig, "vm", "show", "plain")
    await cli(rig, "vm", "create", "extra", "--image", "guest", "--ha")
    assert "high availability: on\n" in await cli(rig, "vm", "show", "extra")


async def cli(rig: Rig, *args: str) -> str:
    flags = ["--url", rig.url, "--token", rig.admin_token]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*flags, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


async def _absent(driver: FakeDriver, instance_id: int) -> bool:
    return await observed(driver, instance_id) is None


@contextlib.asynccontextmanager
async def agent_behind(rig: Rig, proxy: Cuttable, name: str) -> AsyncIterator[Agent]:
    """Host ``name``'s agent, reaching the manager through ``proxy``."""
    await proxy.mend()
    try:
        async with rig.agent_running(name, url=f"http://127.0.0.1:{proxy.port}") as agent:
            yield agent
    finally:
        await proxy.cut()


async def test_a_cut_off_agent_pauses_its_ha_instances_and_gives_up_the_moved_one(
        scheduled: Rig) -> None:
    rig = scheduled
    d1, d2, web, plain = await two_hosts(rig)
    await rig.stop_agent("h1")
    proxy = Cuttable(int(rig.url.rsplit(":", 1)[1]))
    async with agent_behind(rig, proxy, "h1") as agent:
        await until("the agent knows web is HA", lambda: _knows(agent, web))
        await proxy.cut()
        await until("h1 paused web", lambda: _is(d1, web, Observed.PAUSED), timeout_s=5)
        assert await observed(d1, plain) is Observed.RUNNING  # not HA: left alone
        await running_on(rig, web, "h2")
        await proxy.mend()
        await until("h1 destroyed its paused copy of web", lambda: _absent(d1, web))
        assert (await rig.wait_for(plain, "Running")).host == "h1"
        assert await observed(d1, plain) is Observed.RUNNING
        assert await observed(d2, web) is Observed.RUNNING


async def _is(driver: FakeDriver, instance_id: int, state: Observed) -> bool:
    return await observed(driver, instance_id) is state


async def test_an_ha_instance_still_bound_here_runs_on_once_the_manager_answers(
        scheduled: Rig) -> None:
    """The lease ran out by the agent's clock, not yet by the manager's: paused, then
    unpaused under a fresh desired state (the agent's clock set back, no sleeping)."""
    rig = scheduled
    d1, _, web, plain = await two_hosts(rig)
    await rig.stop_agent("h1")
    async with rig.agent_running("h1") as agent:
        await until("the agent knows web is HA", lambda: _knows(agent, web))
        await agent.check_leases(time.monotonic() + 3600)  # its lease ran out
        await until("h1 paused web", lambda: _is(d1, web, Observed.PAUSED), timeout_s=5)
        await agent.heartbeat()
        await agent.check_leases(time.monotonic())
        await until("h1 unpaused web", lambda: _is(d1, web, Observed.RUNNING), timeout_s=5)
        inst = await rig.wait_for(web, "Running")
        assert (inst.host, inst.restarted) == ("h1", None)
        assert await observed(d1, plain) is Observed.RUNNING


async def _knows(agent: Agent, instance_id: int) -> bool:
    return instance_id in agent.ha_instances
