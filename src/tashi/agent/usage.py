"""Usage sampling: every :data:`USAGE_EVERY_S` the agent measures each VM it runs for
the manager (:class:`~tashi.agent.drivers.base.Metered`) and sends all the figures in
one request, apart from the reports: the figures change on every sample, and a report
is about states.

The VMs are measured together, each within :data:`MEASURE_TIMEOUT_S`: a VM whose
monitor hangs is left out of that sample (logged), and the others are sent. A failed
send is not retried: the next sample, a few seconds later, supersedes it (the counters
are cumulative, so nothing is lost by skipping one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from tashi.agent.drivers.base import Metered
from tashi.client import TashiClient
from tashi.domain.errors import DriverError, TashiError
from tashi.domain.usage import VmUsage

log = logging.getLogger(__name__)

USAGE_EVERY_S = 10.0
MEASURE_TIMEOUT_S = 2.0


class UsageSampler:
    """Measures and sends the usage of ``instances()`` (the ids wanted on this host)."""

    def __init__(self, client: TashiClient, host: str, driver: Metered,
                 instances: Callable[[], Collection[int]], *,
                 every_s: float = USAGE_EVERY_S,
                 measure_timeout_s: float = MEASURE_TIMEOUT_S) -> None:
        self._client = client
        self._host = host
        self._driver = driver
        self._instances = instances
        self._every_s = every_s
        self._timeout_s = measure_timeout_s
        self.latest: dict[int, VmUsage] = {}  # the last sample's figures, by instance id

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                await self.send_sample()
            except Exception:  # a driver's surprise never stops the agent
                log.exception("host %s: usage sample failed; trying again in %.0f s",
                              self._host, self._every_s)
            await asyncio.sleep(max(0.0, self._every_s - (loop.time() - began)))

    async def send_sample(self) -> int:
        """Measure every VM and send the figures; how many were sent."""
        figures = await self.sample()
        if not figures:
            return 0
        try:
            await self._client.post_usage(self._host, figures)
        except TashiError as exc:
            log.warning("host %s: usage of %d instances not sent: %s", self._host,
                        len(figures), exc.message)
            return 0
        return len(figures)

    async def sample(self) -> dict[int, VmUsage]:
        """The figures of each VM that could be measured now, by instance id."""
        ids = sorted(set(self._instances()))
        measured = await asyncio.gather(*(self._measure(i) for i in ids))
        self.latest = {i: usage for i, usage in zip(ids, measured, strict=True)
                       if usage is not None}
        return self.latest

    async def _measure(self, instance_id: int) -> VmUsage | None:
        try:
            async with asyncio.timeout(self._timeout_s):
                usage = await self._driver.usage(instance_id)
        except TimeoutError:
            log.warning("host %s: instance %d: usage not measured within %.1f s",
                        self._host, instance_id, self._timeout_s)
            return None
        except DriverError as exc:
            log.info("host %s: instance %d: usage not measured: %s", self._host,
                     instance_id, exc.message)
            return None
        if usage is not None and (problems := usage.problems()):
            log.warning("host %s: instance %d: usage figures dropped: %s", self._host,
                        instance_id, "; ".join(problems))
            return None
        return usage
