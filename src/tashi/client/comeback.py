"""Waiting to retry, but not past the manager's return.

A caller whose request failed because the manager did not answer backs off (1 s,
doubling up to 30 s) so as not to hammer it; but once the manager answers again, every
wait must end at once (issue 14: agents and the scheduler stayed deaf for up to 30 s
after a restart). :func:`wait_back` waits the backoff while probing ``GET /healthz`` (no
token, no store) about every second, jittered so that a cluster's agents do not probe
in step, and returns as soon as the manager answers.
"""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

from tashi.domain.errors import TashiError, Unavailable

#: Seconds between probes of a manager that does not answer (each one 0.5-1 of it).
PROBE_S = 1.0


class Probed(Protocol):
    async def manager_version(self) -> str: ...


async def wait_back(client: Probed, delay_s: float, *, probe_s: float = PROBE_S) -> bool:
    """Wait ``delay_s``, or less: until the manager behind ``client`` answers a probe.
    True if it answered (retry now), False if the whole delay passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + delay_s
    while (left := deadline - loop.time()) > 0:
        await asyncio.sleep(min(left, probe_s * random.uniform(0.5, 1.0)))  # noqa: S311
        try:
            await client.manager_version()
        except TashiError:
            continue
        return True
    return False


async def pause_after(failure: TashiError, client: Probed, delay_s: float) -> None:
    """The wait before retrying a request that failed with ``failure``: cut short by the
    manager's return if it did not answer at all (Unavailable); the whole ``delay_s``
    if it answered with an error (probing would only hammer it)."""
    if isinstance(failure, Unavailable):
        await wait_back(client, delay_s)
    else:
        await asyncio.sleep(delay_s)
