"""One host's convergence: compare what the manager wants with what the
hypervisor has, start at most one operation per instance, and say what is seen.

Rules that keep VMs safe:
- a VM is started only for an instance the manager says *may start* (Activating),
  so a Running instance whose process vanished is reported, never duplicated;
- a VM the manager does not want on this host is destroyed, but only once the
  agent has heard the manager at least once (the caller's duty);
- while an operation on an instance is in flight, nothing else is done to it and
  nothing is reported for it (a half-started VM is neither running nor stopped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from pathlib import Path
from typing import Any

from tashi.agent.drivers.base import (
    Console,
    DiskPlan,
    HypervisorDriver,
    NicPlan,
    VmRequest,
    VmStatus,
)
from tashi.domain.derive import Directive, Observed
from tashi.domain.desired import DesiredInstance, Observation
from tashi.domain.errors import TashiError
from tashi.domain.names import check_image_name

log = logging.getLogger(__name__)

CONSOLE_TAIL_BYTES = 16 * 1024


class Reconciler:
    def __init__(self, driver: HypervisorDriver, image_dir: Path) -> None:
        self._driver = driver
        self._consoles = driver if isinstance(driver, Console) else None  # optional
        self._image_dir = image_dir
        self._ops: dict[int, asyncio.Task[None]] = {}
        self._failures: dict[int, str] = {}
        self._console_sent: dict[int, str] = {}
        self.changed = asyncio.Event()  # set when an operation ends: look again soon

    async def converge(self, desired: list[DesiredInstance]) -> list[Observation]:
        actual = {s.instance_id: s for s in await self._driver.list_instances()}
        wanted = {d.id: d for d in desired}
        for d in desired:
            if d.id not in self._ops:
                self._act(d, actual.get(d.id))
        for instance_id in actual.keys() - wanted.keys():
            if instance_id not in self._ops:
                log.info("instance %d: not wanted on this host any more; destroying",
                         instance_id)
                self._launch(instance_id, "destroy", self._driver.destroy(instance_id))
        self._forget(wanted.keys())
        return [await self._observe(d, actual.get(d.id)) for d in desired
                if d.id not in self._ops]

    def _act(self, d: DesiredInstance, seen: VmStatus | None) -> None:
        if d.directive is Directive.RUN:
            if seen is None and d.may_start and d.id not in self._failures:
                self._launch(d.id, "start", self._start(d))
        elif d.directive is Directive.STOP:
            if seen is not None and seen.observed in (Observed.RUNNING, Observed.PAUSED):
                self._launch(d.id, "stop", self._driver.stop(d.id, d.shutdown_timeout_s))
        elif seen is not None:  # ABSENT
            self._launch(d.id, "destroy", self._driver.destroy(d.id))

    async def _start(self, d: DesiredInstance) -> None:
        try:
            await self._driver.start(self.request_for(d))
        except TashiError as exc:
            self._failures[d.id] = exc.message
            raise
        except Exception as exc:  # a driver bug must not make the agent retry forever
            self._failures[d.id] = f"{exc.__class__.__name__}: {exc}"
            raise

    def request_for(self, d: DesiredInstance) -> VmRequest:
        disks = tuple(DiskPlan(self._image_dir / check_image_name(disk.image), disk.format,
                               disk.persistent) for disk in d.disks)
        nics = tuple(NicPlan(n.mac, n.model, n.network_kind.value) for n in d.nics)
        return VmRequest(instance_id=d.id, name=d.name, cores=d.cores,
                         memory_mib=d.memory_mib, disks=disks, nics=nics)

    def _launch(self, instance_id: int, what: str,
                op: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(op, name=f"{what}-{instance_id}")
        self._ops[instance_id] = task
        task.add_done_callback(lambda t: self._done(instance_id, what, t))

    def _done(self, instance_id: int, what: str, task: asyncio.Task[None]) -> None:
        self._ops.pop(instance_id, None)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("instance %d: %s failed: %s", instance_id, what, exc)
        else:
            log.info("instance %d: %s done", instance_id, what)
        self.changed.set()

    async def _observe(self, d: DesiredInstance, seen: VmStatus | None) -> Observation:
        if d.id in self._failures and d.may_start:
            return Observation(id=d.id, observed=Observed.FAILED,
                               detail=f"start failed: {self._failures[d.id]}"[:2000])
        if seen is None:
            return Observation(id=d.id, observed=Observed.ABSENT)
        return Observation(id=d.id, observed=seen.observed, detail=seen.detail[:2000],
                           console=await self._console(d.id))

    async def _console(self, instance_id: int) -> str | None:
        if self._consoles is None:
            return None
        text = await self._consoles.console(instance_id, CONSOLE_TAIL_BYTES)
        if self._console_sent.get(instance_id) == text:
            return None
        self._console_sent[instance_id] = text
        return text

    def _forget(self, wanted: Collection[int]) -> None:
        for table in (self._failures, self._console_sent):
            for instance_id in list(table):
                if instance_id not in wanted:
                    del table[instance_id]

    def resend_consoles(self) -> None:
        """Forget what was sent, so the next report carries every console again."""
        self._console_sent.clear()

    async def close(self) -> None:
        """Wait briefly for in-flight operations; VMs themselves keep running."""
        if self._ops:
            await asyncio.wait(list(self._ops.values()), timeout=5)
