"""The agent's loops: register, heartbeat, watch the desired state, converge, report.

Level-triggered: the watch only makes the converge loop look sooner; every pass
reads the whole desired state and the hypervisor's whole actual state. If the
manager is unreachable the agent keeps its VMs as they are and keeps trying, from
its very first heartbeat on (agents start at boot, often before the manager). A
refused credential is not retried: the agent stops and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry

from tashi import __version__
from tashi.agent.consoles import ConsoleStreamer
from tashi.agent.displays import DisplayKeeper
from tashi.agent.drivers.base import Console, HypervisorDriver, Metered, Vnc, capabilities_of
from tashi.agent.epoch import EPOCH_FILE, EpochGuard
from tashi.agent.fencing import FENCE_TICK_S, HA_FILE, HaLeases
from tashi.agent.metrics import AgentMetrics
from tashi.agent.reconciler import Reconciler
from tashi.agent.usage import USAGE_EVERY_S, UsageSampler
from tashi.agent.usage_spool import UsageSpool
from tashi.api.schemas import (
    CapabilitiesWire,
    DesiredInstanceOut,
    DesiredOut,
    HeartbeatIn,
    ObservationIn,
    ReportIn,
)
from tashi.api.schemas.migration import desired_migration_of, report_out
from tashi.client import TashiClient
from tashi.client.comeback import Probed, pause_after
from tashi.common.files import write_private
from tashi.domain.derive import Directive
from tashi.domain.desired import DesiredDisk, DesiredInstance, DesiredNic, Observation
from tashi.domain.displays import DesiredDisplay
from tashi.domain.errors import Forbidden, TashiError, Unauthenticated
from tashi.domain.models import Seed

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Delays between attempts to reach the manager: doubling from the first to the most.
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0



async def until_accepted(attempt: Callable[[], Awaitable[T]], *, host: str, what: str,
                         manager: str, probe: Probed, first_s: float = RETRY_FIRST_S,
                         max_s: float = RETRY_MAX_S) -> T:
    """``attempt()`` until it succeeds: each transient failure is logged once (naming
    ``host`` and ``manager``) and retried after a delay doubling from ``first_s`` up
    to ``max_s``, cut short when the manager answers ``probe`` again
    (:func:`~tashi.client.comeback.pause_after`). A refusal
    (:attr:`TashiError.is_refusal`) is raised at once."""
    delay = first_s
    tries = 0
    while True:
        tries += 1
        try:
            return await attempt()
        except TashiError as exc:
            if exc.is_refusal:
                raise
            log.warning("host %s: %s to %s failed (attempt %d): %s; retrying in %.0f s "
                        "(sooner if it answers again)", host, what, manager, tries,
                        " ".join(exc.message.split()), delay)
            await pause_after(exc, probe, delay)
        delay = min(delay * 2, max_s)


def refusal(exc: TashiError, host: str, what: str, manager: str) -> TashiError:
    """``exc`` (a refusal) said for a person: which host, which manager, what was
    refused; of the same class, so the exit code stays."""
    detail = exc.message.removeprefix(f"host {host}: ")
    if isinstance(exc, Unauthenticated):
        return Unauthenticated(f"host {host}: {manager} refused this host's credential "
                               "(unknown or revoked)")
    return type(exc)(f"host {host}: {manager} refused the {what}: {detail}")


class Agent:
    def _bound_ids(self) -> list[int]:
        """The instances bound here (not those waiting here for their migration: the
        manager counts and shows only the bound host's figures and console)."""
        return [d.id for d in self._desired or () if d.directive is not Directive.INCOMING]

    def __init__(self, client: TashiClient, host: str, driver: HypervisorDriver,
                 image_dir: Path, *, suspend_dir: Path | None = None,
                 heartbeat_interval_s: float = 10.0,
                 poll_wait_s: float = 20.0, resync_s: float = 1.0,
                 report_every_s: float = 30.0, manager_url: str | None = None,
                 usage_every_s: float = USAGE_EVERY_S, usage_spool: Path | None = None,
                 registry: CollectorRegistry | None = None, cpu_ratio: float = 1.0,
                 state_dir: Path | None = None) -> None:
        """``manager_url``: named in the logs and errors (else "the manager");
        ``state_dir``: where its HA instances (:mod:`tashi.agent.fencing`) and the
        newest store epoch it acted on (:mod:`tashi.agent.epoch`) are kept across
        restarts (default: in memory);
        ``cpu_ratio``: virtual cores offered per core the driver measures;
        ``usage_every_s``: how often a metered driver's VMs are measured;
        ``usage_spool``: the directory where usage reports wait to be sent (default: in
        memory); ``registry``: where its metrics are kept (default: a registry of its
        own)."""
        self._client = client
        self._host = host
        self._cpu_ratio = cpu_ratio
        self._manager = f"the manager at {manager_url}" if manager_url else "the manager"
        self._driver = driver
        self._reconciler = Reconciler(driver, image_dir, suspend_dir)
        self._displays = DisplayKeeper(client, host, driver) if isinstance(driver, Vnc) else None
        self._consoles = None if not isinstance(driver, Console) else ConsoleStreamer(
            client, host, driver, self._bound_ids)
        self._usage = None if not isinstance(driver, Metered) else UsageSampler(
            client, host, driver, self._bound_ids,
            every_s=usage_every_s, spool=UsageSpool(host, usage_spool))
        if self._usage is not None:
            self._reconciler.before_ending = self._report_usage_now
        self._flushes: set[asyncio.Task[int]] = set()
        self._heartbeat_interval_s = heartbeat_interval_s
        self._poll_wait_s = poll_wait_s
        self._resync_s = resync_s
        self._report_every_s = report_every_s
        self._desired: list[DesiredInstance] | None = None  # None: not heard yet
        self._desired_asked_at = 0.0  # when the desired state in hand was asked for
        self._ha = HaLeases(host, time.monotonic(), state_dir and state_dir / HA_FILE)
        self._epochs = EpochGuard(host, state_dir and state_dir / EPOCH_FILE)
        self._last_report: list[Observation] | None = None
        self._last_report_at: float | None = None
        self._capabilities: CapabilitiesWire | None = None  # measured at the first heartbeat
        self.metrics = AgentMetrics(
            registry or CollectorRegistry(),
            lambda: {} if self._usage is None else self._usage.latest,
            lambda: {d.id: d.name for d in self._desired or ()})

    @property
    def refused_epoch(self) -> int | None:
        """The store epoch of the last desired state refused as older than one it acted
        on (None: the last one was taken)."""
        return self._epochs.refused

    @property
    def ha_instances(self) -> frozenset[int]:
        """The HA instances it knows of (from the manager, or kept from before)."""
        return frozenset(self._ha.leases)

    async def run(self) -> None:
        """Run until cancelled. VMs keep running when the agent stops.

        The first heartbeat is retried until the manager answers; a refused
        credential raises (Unauthenticated or Forbidden), said for a person. HA leases
        are watched from the start (an agent may start while the manager is away)."""
        fence = asyncio.create_task(self._fence_loop(), name="fence")
        try:
            await self._run()
        finally:
            fence.cancel()
            await asyncio.gather(fence, return_exceptions=True)

    async def _run(self) -> None:
        try:
            await until_accepted(self.heartbeat, host=self._host, what="heartbeat",
                                 probe=self._client,
                                 manager=self._manager)
        except TashiError as exc:
            raise refusal(exc, self._host, "heartbeat", self._manager) from exc
        log.info("host %s: agent %s up (driver %s)", self._host, __version__,
                 self._driver.name)
        tasks = [asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
                 asyncio.create_task(self._watch_loop(), name="watch"),
                 asyncio.create_task(self._converge_loop(), name="converge")]
        if self._consoles is not None:
            tasks.append(asyncio.create_task(self._consoles.run(), name="consoles"))
        if self._usage is not None:
            tasks.append(asyncio.create_task(self._usage.run(), name="usage"))
        try:
            await asyncio.gather(*tasks)
        finally:
            ending: list[asyncio.Task[object]] = [*tasks, *self._flushes]
            for task in ending:  # a report not sent waits in the spool for the next run
                task.cancel()
            await asyncio.gather(*ending, return_exceptions=True)
            await self._reconciler.close()
            if self._displays is not None:
                await self._displays.close()

    async def _report_usage_now(self, instance_id: int) -> None:
        """Before instance ``instance_id``'s VM ends: its last figures, spooled now and
        sent soon (the VM does not wait for the manager)."""
        assert self._usage is not None
        await self._usage.spool_sample()
        task = asyncio.create_task(self._usage.flush(), name=f"usage-flush-{instance_id}")
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def heartbeat(self) -> None:
        """One heartbeat, not retried: the host's resources, measured each time, and its
        driver's capabilities, measured once."""
        info = await self._driver.host_info()
        if self._capabilities is None:
            self._capabilities = CapabilitiesWire.of(await capabilities_of(self._driver))
        sent = time.monotonic()
        try:
            await self._client.heartbeat(self._host, HeartbeatIn(
                cores=max(1, int(info.cores * self._cpu_ratio)), memory_mib=info.memory_mib,
                disk_gib=info.disk_gib,
                agent_version=__version__, hypervisor=info.hypervisor,
                capabilities=self._capabilities))
        except TashiError:
            self.metrics.failed("heartbeat")
            raise
        self._ha.heard(sent)

    async def _heartbeat_loop(self) -> None:
        failed: TashiError | None = None
        while True:
            if failed is None:
                await asyncio.sleep(self._heartbeat_interval_s)
            else:  # the next one as soon as the manager is back
                await pause_after(failed, self._client, self._heartbeat_interval_s)
            try:
                await self.heartbeat()
                failed = None
            except TashiError as exc:
                if isinstance(exc, Unauthenticated | Forbidden):
                    raise refusal(exc, self._host, "heartbeat", self._manager) from exc
                log.warning("host %s: heartbeat to %s failed: %s", self._host, self._manager,
                            exc.message)
                failed = exc

    async def _watch_loop(self) -> None:
        since: str | None = None
        backoff = RETRY_FIRST_S
        while True:
            asked = time.monotonic()
            try:
                answer = await self._client.desired(self._host, since, self._poll_wait_s)
            except TashiError as exc:
                self.metrics.failed("watch")
                if isinstance(exc, Unauthenticated | Forbidden):
                    raise refusal(exc, self._host, "watch", self._manager) from exc
                log.warning("host %s: watch of %s failed (%s); retrying in %.0f s (sooner "
                            "if it answers again)", self._host, self._manager, exc.message,
                            backoff)
                await pause_after(exc, self._client, backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                since = None
                continue
            backoff = RETRY_FIRST_S
            if asked < self._desired_asked_at:  # older than the one in hand: ask again
                since = None
                continue
            if answer.revision != since:
                self._take_desired(answer, asked)
            since = answer.revision

    def _take_desired(self, answer: DesiredOut, asked: float) -> bool:
        """Take ``answer`` (asked for at ``asked``) as the desired state, unless it is of
        an older store epoch than one acted on."""
        if not self._epochs.accept(answer.epoch, self._manager):
            return False
        self._desired = [desired_of(d) for d in answer.instances]
        self._desired_asked_at = asked
        self._ha.take(self._desired)
        self._reconciler.changed.set()
        return True

    async def _fence_loop(self) -> None:
        while True:
            await asyncio.sleep(FENCE_TICK_S)
            try:
                await self.check_leases(time.monotonic())
            except TashiError as exc:
                log.warning("host %s: HA instances held: %s did not answer: %s",
                            self._host, self._manager, exc.message)
            except Exception:
                log.exception("host %s: HA lease check failed; retrying", self._host)

    async def check_leases(self, now: float) -> None:
        """Hold and pause the HA instances whose lease ran out; once the manager
        answered a heartbeat again, let go of them under a fresh desired state."""
        due = self._ha.due(now)
        if due:
            silent_s = now - self._ha.heard_at
            why = (f"{self._manager} has not answered a heartbeat for {silent_s:.0f} s: "
                   "its HA lease runs out, and it may be restarted on another host")
            if not self._reconciler.fenced:
                log.warning("host %s: %s; holding HA instances %s", self._host, why,
                            ", ".join(map(str, due)))
            await self._reconciler.fence(due, why)
            return
        if not self._reconciler.fenced:
            return
        asked = time.monotonic()
        answer = await self._client.desired(self._host, None, 0)
        if not self._take_desired(answer, asked):
            return  # a store gone back in time: they stay held
        held = sorted(self._reconciler.fenced)
        self._reconciler.fenced = frozenset()
        log.warning("host %s: %s answers again; HA instances %s no longer held (those "
                    "still bound here go on)", self._host, self._manager,
                    ", ".join(map(str, held)))

    async def _converge_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reconciler.changed.wait(), self._resync_s)
            self._reconciler.changed.clear()
            if self._desired is None or self._epochs.refused is not None:
                continue  # not heard yet, or the last answer refused: VMs left as they are
            try:
                await self.converge_once(self._desired)
            except Exception:
                log.exception("host %s: converge pass failed; retrying", self._host)

    async def converge_once(self, desired: list[DesiredInstance]) -> None:
        if self._displays is not None:  # VNC and screenshots: apart from the VM's operations
            self._displays.take(desired)
        observations = await self._reconciler.converge(desired)
        if observations == self._last_report and not self._report_due() \
                and not self._reconciler.awaiting_switch:
            return
        if self._consoles is not None:  # what a state shows is on the console by then
            await self._consoles.send_changed()
        if self._usage is not None:  # a VM's last figures are counted before it is gone
            await self._usage.flush()
        try:
            await self._client.report(self._host, report_in(observations))
        except TashiError as exc:
            self.metrics.failed("report")
            log.warning("host %s: report failed: %s", self._host, exc.message)
            self._last_report = None
            return
        self._last_report = observations
        self._last_report_at = asyncio.get_running_loop().time()

    def _report_due(self) -> bool:
        last = self._last_report_at
        return last is None or asyncio.get_running_loop().time() - last > self._report_every_s


def desired_of(d: DesiredInstanceOut) -> DesiredInstance:
    """The manager's answer (wire) as the reconciler's record."""
    return DesiredInstance(
        id=d.id, name=d.name, state=d.state, directive=d.directive, may_start=d.may_start,
        cores=d.cores, memory_mib=d.memory_mib,
        disks=tuple(DesiredDisk(k.image, k.format, k.persistent, k.size_gib, k.scratch,
                                k.bus, k.cache) for k in d.disks),
        nics=tuple(DesiredNic(n.network, n.network_kind, n.mac, n.model) for n in d.nics),
        shutdown_timeout_s=d.shutdown_timeout_s, generation=d.generation,
        seed=None if d.seed is None else Seed(d.seed.hostname, d.seed.user_data,
                                              tuple(d.seed.ssh_keys)),
        reboots=d.reboots, reboot_hard=d.reboot_hard, resume=d.resume,
        display=None if d.display is None else DesiredDisplay(
            d.display.vnc, d.display.vnc_open, d.display.vnc_password, d.display.screenshot),
        migration=desired_migration_of(d.migration), ha_lease_s=d.ha_lease_s)


def report_in(observations: list[Observation]) -> ReportIn:
    """The reconciler's observations as the report's wire body."""
    return ReportIn(instances=[ObservationIn(id=o.id, observed=o.observed, detail=o.detail,
                                             console=o.console, reboots=o.reboots,
                                             failure=o.failure, busy=o.busy,
                                             progress=o.progress,
                                             migration=report_out(o.migration))
                               for o in observations])


def load_credential(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def save_credential(path: Path, token: str) -> None:
    write_private(path, token + "\n")
