"""Usage reports: every :data:`USAGE_EVERY_S`, and before a VM is stopped, destroyed or
suspended, the agent measures each VM it runs (:class:`~tashi.agent.drivers.base.Metered`)
and sends all the figures as one report, apart from the state reports: the figures
change on every sample, and a state report is about states.

The VMs are measured together, each within :data:`MEASURE_TIMEOUT_S`: a VM whose
monitor hangs is left out of that report (logged), and the others are sent. Each report
is spooled on disk before it is sent (:mod:`tashi.agent.usage_spool`) and sent, oldest
first, until the manager answers for it: while the manager is unreachable the reports
wait on the host and go when it answers again, each counted once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from datetime import UTC, datetime

from tashi.agent.drivers.base import Metered
from tashi.agent.usage_spool import UsageSpool
from tashi.client import TashiClient
from tashi.domain.errors import Conflict, DriverError, Forbidden, InvalidInput, TashiError
from tashi.domain.usage import VmUsage

log = logging.getLogger(__name__)

USAGE_EVERY_S = 60.0
MEASURE_TIMEOUT_S = 2.0


class UsageSampler:
    """Measures and reports the usage of ``instances()`` (the ids wanted on this host)."""

    def __init__(self, client: TashiClient, host: str, driver: Metered,
                 instances: Callable[[], Collection[int]], *,
                 every_s: float = USAGE_EVERY_S,
                 measure_timeout_s: float = MEASURE_TIMEOUT_S,
                 spool: UsageSpool | None = None) -> None:
        """``spool``: where reports wait until the manager answers (default: memory)."""
        self._client = client
        self._host = host
        self._driver = driver
        self._instances = instances
        self._every_s = every_s
        self._timeout_s = measure_timeout_s
        self._spool = spool or UsageSpool(host, None)
        self._sending = asyncio.Lock()
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
        """Measure every VM, spool the report and send what waits; how many reports
        the manager answered for."""
        await self.spool_sample()
        return await self.flush()

    async def spool_sample(self) -> None:
        """Measure every VM and spool the report (not sent yet)."""
        at = datetime.now(UTC)
        figures = await self.sample()
        if figures:
            self._spool.add(at, figures)

    async def flush(self) -> int:
        """Send the waiting reports, oldest first, until one cannot be sent now; how
        many the manager answered for (counted, or refused for good)."""
        answered = 0
        async with self._sending:
            for report in self._spool.waiting():
                try:
                    await self._client.post_usage(report)
                except (Conflict, Forbidden, InvalidInput) as exc:  # never counted: it goes
                    log.warning("host %s: usage report %d refused: %s", self._host,
                                report.seq, exc.message)
                except TashiError as exc:
                    log.warning("host %s: usage report %d not sent (%s); %d wait",
                                self._host, report.seq, exc.message,
                                self._spool.count())
                    return answered
                self._spool.done(report.seq)
                answered += 1
        return answered

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
