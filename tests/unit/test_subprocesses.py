"""A child outliving its caller's wait is killed and reaped, not left running."""

from __future__ import annotations

import asyncio
import os

import pytest

from tashi.common.subprocesses import communicate


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _sleeper() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        "sleep", "60", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_output_of_a_child_that_ends() -> None:
    proc = await asyncio.create_subprocess_exec(
        "sh", "-c", "echo out; echo err >&2", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert await communicate(proc, 10) == (b"out\n", b"err\n")
    assert proc.returncode == 0


async def test_a_timeout_kills_and_reaps_the_child() -> None:
    proc = await _sleeper()
    with pytest.raises(TimeoutError):
        await communicate(proc, 0.1)
    assert proc.returncode == -9
    assert not _alive(proc.pid)


async def test_a_cancelled_caller_kills_and_reaps_the_child() -> None:
    proc = await _sleeper()
    task = asyncio.create_task(communicate(proc, None))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert proc.returncode == -9
    assert not _alive(proc.pid)
