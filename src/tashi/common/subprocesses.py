"""A child process's output, and the child reaped whatever happens meanwhile."""

from __future__ import annotations

import asyncio
import contextlib


async def communicate(proc: asyncio.subprocess.Process,
                      timeout_s: float | None) -> tuple[bytes, bytes]:
    """``proc.communicate()`` within ``timeout_s`` (TimeoutError after it).

    A child that outlives the wait (a timeout, or the caller cancelled) is killed and
    reaped before the exception goes on, so no process is left running and no asyncio
    transport is left open behind it."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except BaseException:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
        raise
    return out or b"", err or b""
