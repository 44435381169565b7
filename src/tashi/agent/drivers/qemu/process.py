"""The QEMU process: launched detached from the agent, waited for, killed.

QEMU runs in its own session (a Ctrl-C of the agent never reaches it) and writes
to a file, never to a pipe of the agent's, so the VM outlives the agent. While
the agent that started it lives, the asyncio Process reaps it (no zombies);
after a restart QEMU is no longer our child and is found by PID and cmdline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from asyncio.subprocess import Process
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tashi.agent.drivers.qemu.runtime import process_matches
from tashi.domain.errors import DriverError

POLL_INTERVAL_S = 0.05
KILL_TIMEOUT_S = 10.0
REAP_TIMEOUT_S = 1.0


def _open_log(path: Path) -> BinaryIO:
    return path.open("ab")


async def spawn(argv: Sequence[str], log_path: Path) -> Process:
    """Start ``argv`` in a new session, stdin from /dev/null, output appended to
    ``log_path``. Raises DriverError when it cannot be started at all."""
    try:
        with _open_log(log_path) as log_file:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
    except OSError as exc:
        raise DriverError(f"cannot run {argv[0]}: {exc}") from exc


async def wait_gone(pid: int, instance_id: int, proc: Process | None, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for the instance's QEMU ``pid`` to exit; True if it did."""
    if proc is not None and proc.pid == pid:
        try:
            await asyncio.wait_for(proc.wait(), max(0.0, timeout_s))
        except TimeoutError:
            return False
        return True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while process_matches(pid, instance_id):
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(POLL_INTERVAL_S)
    return True


async def kill(pid: int, instance_id: int, proc: Process | None) -> None:
    """SIGKILL the instance's QEMU and wait until it is gone."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    except OSError as exc:
        raise DriverError(f"instance {instance_id}: cannot kill QEMU: {exc}") from exc
    if not await wait_gone(pid, instance_id, proc, KILL_TIMEOUT_S):
        raise DriverError(
            f"instance {instance_id}: QEMU still there {KILL_TIMEOUT_S} s after SIGKILL"
        )


def exit_detail(proc: Process | None) -> str:
    """Words for how the QEMU process ended."""
    code = None if proc is None else proc.returncode
    if code is None:
        return "QEMU process exited"
    if code < 0:
        return f"QEMU process killed by signal {-code}"
    return f"QEMU process exited with code {code}"


async def ended_detail(proc: Process | None) -> str:
    """:func:`exit_detail` once asyncio has the exit status of our ``proc``, which is gone.

    A QEMU that just died (killed from outside, say) is a zombie, or already reaped by
    the child watcher's thread, before the event loop learns how it ended: without
    waiting, the report would say "exited" where it was "killed by signal 9"."""
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), REAP_TIMEOUT_S)
    return exit_detail(proc)
