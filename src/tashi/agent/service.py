"""The agent's loops: register, heartbeat, watch the desired state, converge, report.

Level-triggered: the watch only makes the converge loop look sooner; every pass
reads the whole desired state and the hypervisor's whole actual state. If the
manager is unreachable the agent keeps its VMs as they are and keeps trying.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from tashi import __version__
from tashi.agent.drivers.base import HypervisorDriver
from tashi.agent.reconciler import Reconciler
from tashi.api.schemas import DesiredInstance, HeartbeatIn, Observation, ReportIn
from tashi.client import TashiClient
from tashi.common.files import write_private
from tashi.domain.errors import TashiError, Unauthenticated

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, client: TashiClient, host: str, driver: HypervisorDriver,
                 image_dir: Path, *, heartbeat_interval_s: float = 10.0,
                 poll_wait_s: float = 20.0, resync_s: float = 1.0,
                 report_every_s: float = 30.0) -> None:
        self._client = client
        self._host = host
        self._driver = driver
        self._reconciler = Reconciler(driver, image_dir)
        self._heartbeat_interval_s = heartbeat_interval_s
        self._poll_wait_s = poll_wait_s
        self._resync_s = resync_s
        self._report_every_s = report_every_s
        self._desired: list[DesiredInstance] | None = None  # None: not heard yet
        self._last_report: list[Observation] | None = None
        self._last_report_at: float | None = None

    async def run(self) -> None:
        """Run until cancelled. VMs keep running when the agent stops."""
        await self.heartbeat()
        log.info("host %s: agent %s up (driver %s)", self._host, __version__,
                 self._driver.name)
        tasks = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
                 asyncio.create_task(self._watch_loop(), name="watch"),
                 asyncio.create_task(self._converge_loop(), name="converge")]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._reconciler.close()

    async def heartbeat(self) -> None:
        info = await self._driver.host_info()
        await self._client.heartbeat(self._host, HeartbeatIn(
            cores=info.cores, memory_mib=info.memory_mib, agent_version=__version__,
            hypervisor=info.hypervisor))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval_s)
            try:
                await self.heartbeat()
            except TashiError as exc:
                log.warning("host %s: heartbeat failed: %s", self._host, exc.message)

    async def _watch_loop(self) -> None:
        since: str | None = None
        backoff = 1.0
        while True:
            try:
                answer = await self._client.desired(self._host, since, self._poll_wait_s)
            except Unauthenticated:
                raise
            except TashiError as exc:
                log.warning("host %s: watch failed (%s); retrying in %.0f s", self._host,
                            exc.message, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                since = None
                continue
            backoff = 1.0
            if answer.revision != since:
                self._desired = list(answer.instances)
                self._reconciler.changed.set()
            since = answer.revision

    async def _converge_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconciler.changed.wait(), self._resync_s)
            self._reconciler.changed.clear()
            if self._desired is None:
                continue
            try:
                await self.converge_once(self._desired)
            except Exception:
                log.exception("host %s: converge pass failed; retrying", self._host)

    async def converge_once(self, desired: list[DesiredInstance]) -> None:
        observations = await self._reconciler.converge(desired)
        if observations == self._last_report and not self._report_due():
            return
        try:
            await self._client.report(self._host, ReportIn(instances=observations))
        except TashiError as exc:
            log.warning("host %s: report failed: %s", self._host, exc.message)
            self._reconciler.resend_consoles()
            self._last_report = None
            return
        self._last_report = observations
        self._last_report_at = asyncio.get_running_loop().time()

    def _report_due(self) -> bool:
        last = self._last_report_at
        return last is None or asyncio.get_running_loop().time() - last > self._report_every_s


def load_credential(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def save_credential(path: Path, token: str) -> None:
    write_private(path, token + "\n")
