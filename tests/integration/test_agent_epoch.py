"""An agent never acts on a desired state older than one it acted on: a manager whose
store was restored from an older backup (here: a snapshot taken before instance
``late`` was created) would have the agent destroy ``late``'s VM, which that store never
knew of. The agent refuses, says so, and leaves its VMs as they are; an agent with no
memory of the newer epoch (its state directory gone) does destroy it, which is why the
check is there."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.epoch import EPOCH_FILE
from tashi.api.schemas import InstanceCreate
from tashi.domain.derive import Observed
from tests.integration.conftest import Rig, start_rig, stop_rig


async def running(driver: FakeDriver) -> dict[int, Observed]:
    return {s.instance_id: s.observed for s in await driver.list_instances()}


async def test_a_store_gone_back_in_time_cannot_destroy_what_it_forgot(
        scheduled: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rig = scheduled
    driver = rig.drivers["h1"] = FakeDriver(cores=8, memory_mib=8192)
    rig.tokens["h1"] = (await rig.admin.add_host("h1")).token
    state = tmp_path / "agent-h1"
    async with rig.agent_running("h1", state_dir=state):
        early = await rig.admin.create_instance(InstanceCreate(name="early", image="guest",
                                                               host="h1"))
        await rig.wait_for(early.id, "Running")
        backup = rig.core.store.snapshot()  # the backup: before "late"
        late = await rig.admin.create_instance(InstanceCreate(name="late", image="guest",
                                                              host="h1"))
        await rig.wait_for(late.id, "Running")
    acted_on = int((state / EPOCH_FILE).read_text())
    assert acted_on > backup.epoch
    assert await running(driver) == {early.id: Observed.RUNNING, late.id: Observed.RUNNING}

    second, server, serving = await start_rig(tmp_path / "restored",
                                              restored=(backup, rig.admin_token))
    second.tokens["h1"], second.drivers["h1"] = rig.tokens["h1"], driver
    try:
        with caplog.at_level(logging.ERROR, "tashi.agent.epoch"):
            async with second.agent_running("h1", state_dir=state) as agent:
                for _ in range(100):
                    if agent.refused_epoch is not None:
                        break
                    await asyncio.sleep(0.05)
                assert agent.refused_epoch == backup.epoch
                await asyncio.sleep(1)  # ten converge periods: nothing is done
                assert await running(driver) == {early.id: Observed.RUNNING,
                                                 late.id: Observed.RUNNING}
        assert any(f"desired state of store epoch {backup.epoch}, older than epoch "
                   f"{acted_on} this agent acted on: refused" in r.message
                   for r in caplog.records), caplog.text
        (state / EPOCH_FILE).unlink()  # an agent that does not remember: it obeys
        async with second.agent_running("h1", state_dir=state):
            for _ in range(100):
                if late.id not in await running(driver):
                    break
                await asyncio.sleep(0.05)
            assert await running(driver) == {early.id: Observed.RUNNING}
    finally:
        await stop_rig(second, server, serving)
