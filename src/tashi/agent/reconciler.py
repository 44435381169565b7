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
    LiveMigratable,
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
from tashi.domain.migration import MigrationReport, MigrationResult, Sent
from tashi.domain.models import ImageFormat
from tashi.domain.seeds import meta_data, user_data

log = logging.getLogger(__name__)
#: The operations whose progress is reported while they run.
_LONG_OPERATIONS: dict[str, Busy] = {"suspend": "suspend", "resume": "resume",
                                     "migrate": "migrate"}
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
        self._migratable = driver if isinstance(driver, LiveMigratable) else None
        #: by instance: (migration number, what happened) of this agent's migrations
        self._sent: dict[int, tuple[int, Sent]] = {}
        self._migration_failures: dict[int, tuple[int, str]] = {}
        self._image_dir = image_dir
        self._suspend_dir = suspend_dir or image_dir.parent / "suspend"
        self._ops: dict[int, asyncio.Task[None]] = {}
        self._op_names: dict[int, str] = {}
        self._failures: dict[int, str] = {}  # failed starts (and resumes), by instance
        self._suspend_failures: dict[int, str] = {}
        self._first_pass = True
        #: A VM migrated here runs, and the manager has not bound it here yet: it may
        #: still wait for the source's word, so each pass reports (not every 30 s).
        self.awaiting_switch = False
        #: HA instances held while the manager is not heard (see agent.fencing): paused,
        #: nothing else done to them until the manager's word comes again.
        self.fenced: frozenset[int] = frozenset()
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
            if d.id not in self._ops and d.id not in self.fenced:
                self._act(d, actual.get(d.id))
            elif self._op_names.get(d.id) == "migrate" and d.directive is not Directive.MIGRATE:
                assert self._migratable is not None  # no longer wanted: aborted
                self._migratable.cancel_migration(d.id)
        for instance_id in actual.keys() - wanted.keys():
            if instance_id not in self._ops:
                log.info("instance %d: not wanted on this host any more; destroying",
                         instance_id)
                self._launch(instance_id, "destroy", self._driver.destroy(instance_id))
        self._forget(wanted.keys())
        self.awaiting_switch = any(
            d.directive is Directive.INCOMING and d.id in actual
            and actual[d.id].observed is Observed.RUNNING for d in desired)
        said = []
        for d in desired:
            if d.id not in self._ops:
                said.append(await self._observe(d, actual.get(d.id)))
            elif (busy := self._busy(d.id)) is not None:
                said.append(busy)
        return said

    async def fence(self, instance_ids: Collection[int], why: str) -> list[int]:
        """Hold ``instance_ids`` (:attr:`fenced`) and pause those of them running (destroy
        them where the driver cannot pause); the ones paused or destroyed now."""
        self.fenced |= frozenset(instance_ids)
        actual = {s.instance_id: s for s in await self._driver.list_instances()}
        stopped = []
        for instance_id in sorted(instance_ids):
            seen = actual.get(instance_id)
            if seen is None or seen.observed is not Observed.RUNNING \
                    or instance_id in self._ops:
                continue
            how = "pausing" if self._pausable is not None else "destroying"
            log.warning("instance %d: %s it: %s", instance_id, how, why)
            self._launch(instance_id, "fence", self._driver.destroy(instance_id)
                         if self._pausable is None else self._pausable.pause(instance_id))
            stopped.append(instance_id)
        return stopped

    def _busy(self, instance_id: int) -> Observation | None:
        """What is said of an instance with an operation in flight: the progress of a
        suspend or resume (None for the others)."""
        what = _LONG_OPERATIONS.get(self._op_names.get(instance_id, ""))
        if what == "migrate" and self._migratable is not None:
            moving = self._migratable.migration_progress(instance_id)
            return None if moving is None else Observation(
                id=instance_id, observed=Observed.ABSENT, busy=what,
                migration=MigrationReport(moving.number, "source", progress=moving))
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
                self._tidy_if_arrived(d, seen)
        elif d.directive is Directive.INCOMING:
            self._prepare_if_asked(d, seen)
        elif d.directive is Directive.MIGRATE:
            self._send_if_asked(d, seen)
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

    # --- live migration (see tashi.domain.migration) ------------------------------------

    def _prepare_if_asked(self, d: DesiredInstance, seen: VmStatus | None) -> None:
        """(The target) start a VM waiting for the migration, unless it failed."""
        m = d.migration
        if self._migratable is None or m is None or seen is not None \
                or self._migration_failures.get(d.id, (0, ""))[0] == m.number:
            return
        self._launch(d.id, "incoming", self._migration_step(
            d.id, m.number, self._migratable.prepare_incoming(self.request_for(d), m.number,
                                                              m.tunables)))

    def _send_if_asked(self, d: DesiredInstance, seen: VmStatus | None) -> None:
        """(The source) send the VM to the target's waiting one, once."""
        m = d.migration
        if self._migratable is None or m is None or m.endpoint is None or seen is None \
                or seen.observed not in (Observed.RUNNING, Observed.PAUSED) \
                or self._migration_failures.get(d.id, (0, ""))[0] == m.number \
                or self._sent.get(d.id, (0,))[0] == m.number:
            return
        log.info("instance %d (%s): migration %d to host %s asked", d.id, d.name, m.number,
                 m.target)
        self._launch(d.id, "migrate", self._send(d.id, m.number, self._migratable.migrate(
            d.id, m.endpoint, m.tunables)))

    async def _send(self, instance_id: int, number: int, sending: Awaitable[Sent]) -> None:
        async def keep() -> None:
            self._sent[instance_id] = (number, await sending)
        await self._migration_step(instance_id, number, keep())

    async def _migration_step(self, instance_id: int, number: int,
                              step: Awaitable[object]) -> None:
        """``step``; its failure kept (and reported) for migration ``number``."""
        try:
            await step
        except TashiError as exc:
            self._migration_failures[instance_id] = (number, exc.message)
            raise
        except Exception as exc:  # a driver bug must not make the agent retry forever
            self._migration_failures[instance_id] = (number, f"{type(exc).__name__}: {exc}")
            raise

    def _tidy_if_arrived(self, d: DesiredInstance, seen: VmStatus) -> None:
        """A VM that came by migration runs here, bound here: close what it needed."""
        if (self._migratable is not None and seen.observed is Observed.RUNNING
                and d.migration is None and self._migratable.incoming_endpoint(d.id)):
            self._launch(d.id, "arrived", self._migratable.finish_incoming(d.id))

    def _migration_report(self, d: DesiredInstance) -> MigrationReport | None:
        m = d.migration
        if m is None or self._migratable is None:
            return None
        number, failure = self._migration_failures.get(d.id, (0, ""))
        failed = failure if number == m.number else ""
        if m.role == "target":
            endpoint = self._migratable.incoming_endpoint(d.id)
            ready = endpoint if endpoint is not None and endpoint.number == m.number else None
            return MigrationReport(m.number, "target", endpoint=ready, failure=failed)
        number, sent = self._sent.get(d.id, (0, None))
        result = None if sent is None or number != m.number else MigrationResult(
            m.number, m.source, m.target, sent.total_ms, sent.downtime_ms,
            disks_bytes=sent.disks_bytes)
        return MigrationReport(m.number, "source", result=result, failure=failed)

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
        if seen is None and d.directive is Directive.INCOMING:
            return Observation(id=d.id, observed=Observed.ABSENT,
                               migration=self._migration_report(d))
        if seen is None:
            if (d.directive is Directive.SUSPEND and self._suspendable is not None
                    and await asyncio.to_thread(self._suspendable.saved,
                                                self.saved_path(d.id))):
                return Observation(id=d.id, observed=Observed.SUSPENDED)
            return Observation(id=d.id, observed=Observed.ABSENT)
        failure = self._suspend_failures.get(d.id, "")
        return Observation(id=d.id, observed=seen.observed, detail=seen.detail[:2000],
                           reboots=seen.reboots,
                           failure=f"suspend failed: {failure}"[:2000] if failure else "",
                           migration=self._migration_report(d))

    def _forget(self, wanted: Collection[int]) -> None:
        kept: tuple[dict[int, Any], ...] = (self._failures, self._suspend_failures,
                                            self._sent, self._migration_failures)
        for failures in kept:
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
