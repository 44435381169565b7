"""A followed console streams what the guest writes, as the agent sends it."""

from __future__ import annotations

import asyncio

from tashi.api.schemas import InstanceCreate
from tests.integration.conftest import Rig


async def test_a_followed_console_gets_new_output_at_once_and_ends_with_the_instance(
        scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(InstanceCreate(name="web", image="guest"))
    await scheduled.wait_for(inst.id, "Running")
    chunks: list[str] = []

    async def follow() -> None:
        async for chunk in scheduled.admin.follow_console(inst.id):
            chunks.append(chunk)

    task = asyncio.create_task(follow())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "TASHI-GUEST-READY" not in "".join(chunks):
        assert loop.time() < deadline, chunks
        await asyncio.sleep(0.02)
    driver.write_console(inst.id, "hello from the guest\n")
    written = loop.time()
    while "hello from the guest" not in "".join(chunks):
        assert loop.time() < deadline, chunks
        await asyncio.sleep(0.02)
    assert loop.time() - written < 2.0  # streamed: not a second's polling per hop
    assert "".join(chunks).count("TASHI-GUEST-READY") == 1  # only what is new is sent
    await scheduled.admin.destroy_instance(inst.id)
    await asyncio.wait_for(task, 20)  # the stream ends once the instance is gone
