"""Back to work at once when the manager answers again (issue 14): after a 12 s outage
(the agent's and the scheduler's backoffs grown to 8 s), a new instance is Running within
2 s of the manager answering: their waits end at the first probe that it answers, not
at the end of the backoff."""

from __future__ import annotations

import asyncio
import time

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.scheduler.service import Scheduler
from tests.integration.conftest import Rig
from tests.integration.cuttable import Cuttable

OUTAGE_S = 12.0


async def test_a_create_runs_within_two_seconds_of_the_managers_return(rig: Rig) -> None:
    proxy = Cuttable(int(rig.url.rsplit(":", 1)[1]))
    await proxy.mend()
    through = f"http://127.0.0.1:{proxy.port}"
    rig.tokens["h1"] = (await rig.admin.add_host("h1")).token
    rig.drivers["h1"] = FakeDriver(cores=8, memory_mib=8192)
    scheduler_client = TashiClient(through, rig.admin_token)
    rig.clients.append(scheduler_client)
    scheduling = asyncio.create_task(Scheduler(scheduler_client, poll_wait_s=5).run())
    try:
        async with rig.agent_running("h1", url=through):
            before = await rig.admin.create_instance(InstanceCreate(name="before",
                                                                    image="guest"))
            await rig.wait_for(before.id, "Running")
            await proxy.cut()  # the manager is gone, as far as they can tell
            await asyncio.sleep(OUTAGE_S)
            await proxy.mend()
            back = time.monotonic()
            after = await rig.admin.create_instance(InstanceCreate(name="after",
                                                                   image="guest"))
            running = await rig.wait_for(after.id, "Running", timeout_s=15)
            took = time.monotonic() - back
            assert running.host == "h1"
            assert took < 2.0, f"Running {took:.1f} s after the manager answered again"
            await rig.wait_for(before.id, "Running")  # and the first one back from Orphaned
    finally:
        scheduling.cancel()
        await asyncio.gather(scheduling, return_exceptions=True)
        await proxy.cut()
