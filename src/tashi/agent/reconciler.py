"""One host's convergence: compare what the manager wants with what the
hypervisor has, start at most one operation per instance, and say what is seen.

Rules that keep VMs safe:
- a VM is started only for an instance the manager says *may start* (Activating),
  so a Running instance whose process vanished is reported, never duplicated;
- a VM the manager does not want on this host is destroyed, but only once the
  agent has heard the manager at least once (the caller's duty);
- while an operation on an instance is in flight, nothing else is done to it and
  nothing is reported for it (a half-started VM is neither running nor stopped) but
  the progress of a suspend or resume.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from pathlib import Path
from types import CoroutineType
from typing import Any

from tashi.agent.drivers.base import (
    DiskPlan,
    HypervisorDriver,
    NicPlan,
    Pausable,
    Rebootable,
    SeedFiles,
    Suspendable,
    VmRequest,
    VmStatus,
)
from tashi.domain.derive import Directive, Observed
from tashi.domain.desired import Busy, DesiredInstance, Observation
from tashi.domain.errors import DriverError, TashiError
from tashi.domain.imagerefs import check_key
from tashi.domain.models import ImageFormat
from tashi.domain.seeds import meta_data, user_data

log = logging.getLogger(__name__)
#: The operations whose progress is reported while they run.
_LONG_OPERATIONS: dict[str, Busy] = {"suspend": "suspend", "resume": "resume"}
_ENDING = frozenset({"stop", "destroy", "suspend"})  # a VM's process ends


async def _after(first: Awaitable[None], then: Coroutine[Any, Any, None]) -> None:
    """``first`` (its failure logged, never in the way), then ``then``."""
    try:
        await first
    except asyncio.CancelledError:
        then.close()
        raise
    except Exception:
        log.exception("before %s: failed; going on", then.cr_code.co_name
                      if isinstance(then, CoroutineType) else "an operation")
    await then


class Reconciler:
    def __init__(self, driver: HypervisorDriver, image_dir: Path,
                 suspend_dir: Path | None = None) -> None:
        """``suspend_dir``: where suspended VMs are saved (shared by the hosts; default:
        ``suspend`` beside the image directory)."""
        self._driver = driver
        self._pausable = driver if isinstance(driver, Pausable) else None
        self._rebootable = driver if isinstance(driver, Rebootable) else None
        self._suspendable = driver if isinstance(driver, Suspendable) else None
        self._image_dir = image_dir
        self._suspend_dir = suspend_dir or image_dir.parent / "suspend"
        self._ops: dict[int, asyncio.Task[None]] = {}
        self._op_names: dict[int, str] = {}
        self._failures: dict[int, str] = {}  # failed starts (and resumes), by instance
        self._suspend_failures: dict[int, str] = {}
        self._first_pass = True
        self.changed = asyncio.Event()  # set when an operation ends: look again soon
        #: awaited before a VM is stopped, destroyed or suspended (its last usage report)
        self.before_ending: Callable[[int], Awaitable[None]] | None = None

    async def converge(self, desired: list[DesiredInstance]) -> list[Observation]:
        actual = {s.instance_id: s for s in await self._driver.list_instances()}
        wanted = {d.id: d for d in desired}
        if self._first_pass:
            self._first_pass = False
            _log_adopted(desired, actual)
        for d in desired:
            if d.directive is not Directive.SUSPEND:
                self._suspend_failures.pop(d.id, None)  # the manager took it in
            if d.id not in self._ops:
                self._act(d, actual.get(d.id))
        for instance_id in actual.keys() - wanted.keys():
            if instance_id not in self._ops:
                log.info("instance %d: not wanted on this host any more; destroying",
                         instance_id)
                self._launch(instance_id, "destroy", self._driver.destroy(instance_id))
        self._forget(wanted.keys())
        said = []
        for d in desired:
            if d.id not in self._ops:
                said.append(await self._observe(d, actual.get(d.id)))
            elif (busy := self._busy(d.id)) is not None:
                said.append(busy)
        return said

    def _busy(self, instance_id: int) -> Observation | None:
        """What is said of an instance with an operation in flight: the progress of a
        suspend or resume (None for the others)."""
        what = _LONG_OPERATIONS.get(self._op_names.get(instance_id, ""))
        if what is None or self._suspendable is None:
            return None
        return Observation(id=instance_id, observed=Observed.ABSENT, busy=what,
                           progress=self._suspendable.progress(instance_id))

    def saved_path(self, instance_id: int) -> Path:
        """Where the instance's state is saved while it is suspended."""
        return self._suspend_dir / str(instance_id)

    def _act(self, d: DesiredInstance, seen: VmStatus | None) -> None:
        if d.directive in (Directive.RUN, Directive.PAUSE):
            if seen is None and d.may_start and d.id not in self._failures:
                if d.resume:
                    self._launch(d.id, "resume", self._start(d, resume=True))
                else:
                    self._launch(d.id, "start", self._start(d))
            elif seen is not None:
                self._freeze_or_thaw(d, seen.observed)
                self._reboot_if_asked(d, seen)
                self._tidy_if_resumed(d)
        elif d.directive is Directive.SUSPEND:
            self._suspend_if_asked(d, seen)
        elif d.directive is Directive.STOP:
            if seen is not None and seen.observed in (Observed.RUNNING, Observed.PAUSED):
                self._launch(d.id, "stop", self._driver.stop(d.id, d.shutdown_timeout_s))
        elif seen is not None:  # ABSENT
            self._launch(d.id, "destroy", self._driver.destroy(d.id))

    def _freeze_or_thaw(self, d: DesiredInstance, observed: Observed) -> None:
        """Pause a running VM the manager wants paused, unpause a paused one it wants
        running (a driver without :class:`Pausable` is left alone: the manager refuses
        to pause on such a host)."""
        if self._pausable is None:
            return
        if d.directive is Directive.PAUSE and observed is Observed.RUNNING:
            self._launch(d.id, "pause", self._pausable.pause(d.id))
        elif d.directive is Directive.RUN and observed is Observed.PAUSED:
            self._launch(d.id, "unpause", self._pausable.unpause(d.id))

    def _reboot_if_asked(self, d: DesiredInstance, seen: VmStatus) -> None:
        """Carry out a reboot the manager asked and this VM has not done yet."""
        if (self._rebootable is None or d.id in self._ops or d.reboots <= seen.reboots
                or d.directive is not Directive.RUN or seen.observed is not Observed.RUNNING):
            return
        log.info("instance %d (%s): reboot %d asked (%s)", d.id, d.name, d.reboots,
                 "hard" if d.reboot_hard else "soft")
        self._launch(d.id, "reboot", self._rebootable.reboot(d.id, d.reboots, d.reboot_hard,
                                                             d.shutdown_timeout_s))

    def _tidy_if_resumed(self, d: DesiredInstance) -> None:
        """A VM runs from a saved state an earlier agent began to restore (it stopped
        before removing it): the saved state has served, it goes."""
        path = self.saved_path(d.id)
        if d.resume and d.id not in self._ops and self._suspendable is not None \
                and self._suspendable.saved(path):
            log.info("instance %d (%s): it runs from its saved state %s: removing it",
                     d.id, d.name, path)
            self._launch(d.id, "tidy", asyncio.to_thread(shutil.rmtree, path, True))

    def _suspend_if_asked(self, d: DesiredInstance, seen: VmStatus | None) -> None:
        """Save a VM the manager wants suspended (or finish a save an earlier agent
        began: its VM ended, its memory saved)."""
        if self._suspendable is None or seen is None or d.id in self._suspend_failures:
            return
        if seen.observed in (Observed.RUNNING, Observed.PAUSED, Observed.STOPPED):
            self._launch(d.id, "suspend", self._suspend(d))

    async def _suspend(self, d: DesiredInstance) -> None:
        assert self._suspendable is not None
        try:
            await self._suspendable.suspend(d.id, self.saved_path(d.id))
        except TashiError as exc:
            self._suspend_failures[d.id] = exc.message
            raise

    async def _start(self, d: DesiredInstance, *, resume: bool = False) -> None:
        try:
            if resume:
                if self._suspendable is None:
                    raise DriverError(f"the {self._driver.name} driver cannot resume a "
                                      "saved VM")
                await self._suspendable.resume(self.request_for(d), self.saved_path(d.id))
                return
            await self._driver.start(self.request_for(d))
        except TashiError as exc:
            self._failures[d.id] = exc.message
            raise
        except Exception as exc:  # a driver bug must not make the agent retry forever
            self._failures[d.id] = f"{exc.__class__.__name__}: {exc}"
            raise

    def request_for(self, d: DesiredInstance) -> VmRequest:
        disks = tuple(DiskPlan(self._image_dir / check_key(disk.image) if disk.image else None,
                               disk.format, disk.persistent, disk.size_gib, disk.scratch,
                               disk.bus, disk.cache) for disk in d.disks)
        if d.seed is not None:
            disks += (DiskPlan(None, ImageFormat.RAW, False, seed=SeedFiles(
                meta_data(d.seed, d.id), user_data(d.seed))),)
        nics = tuple(NicPlan(n.mac, n.model, n.network_kind.value) for n in d.nics)
        return VmRequest(instance_id=d.id, name=d.name, cores=d.cores,
                         memory_mib=d.memory_mib, disks=disks, nics=nics, reboots=d.reboots)

    def _launch(self, instance_id: int, what: str,
                op: Coroutine[Any, Any, None]) -> None:
        if what in _ENDING and self.before_ending is not None:
            op = _after(self.before_ending(instance_id), op)
        task = asyncio.create_task(op, name=f"{what}-{instance_id}")
        self._ops[instance_id] = task
        self._op_names[instance_id] = what
        task.add_done_callback(lambda t: self._done(instance_id, what, t))

    def _done(self, instance_id: int, what: str, task: asyncio.Task[None]) -> None:
        self._ops.pop(instance_id, None)
        self._op_names.pop(instance_id, None)
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
            what = "resume" if d.resume else "start"
            return Observation(id=d.id, observed=Observed.FAILED,
                               detail=f"{what} failed: {self._failures[d.id]}"[:2000])
        if seen is None:
            if (d.directive is Directive.SUSPEND and self._suspendable is not None
                    and await asyncio.to_thread(self._suspendable.saved,
                                                self.saved_path(d.id))):
                return Observation(id=d.id, observed=Observed.SUSPENDED)
            return Observation(id=d.id, observed=Observed.ABSENT)
        failure = self._suspend_failures.get(d.id, "")
        return Observation(id=d.id, observed=seen.observed, detail=seen.detail[:2000],
                           reboots=seen.reboots,
                           failure=f"suspend failed: {failure}"[:2000] if failure else "")

    def _forget(self, wanted: Collection[int]) -> None:
        for failures in (self._failures, self._suspend_failures):
            for instance_id in list(failures):
                if instance_id not in wanted:
                    del failures[instance_id]

    async def close(self) -> None:
        """Wait briefly for in-flight operations; VMs themselves keep running."""
        if self._ops:
            await asyncio.wait(list(self._ops.values()), timeout=5)


def _log_adopted(desired: list[DesiredInstance], actual: Mapping[int, VmStatus]) -> None:
    """On the first pass: each VM that ran before this agent started and is still
    wanted here (after ``tashi up`` or an agent restart) is taken over, not restarted."""
    for d in desired:
        if d.id in actual:
            log.info("instance %d (%s): its VM from before this agent started is %s: "
                     "re-adopted", d.id, d.name, actual[d.id].observed)
