"""What each agent is asked for, and what its reports change.

An agent's report is an observation, never a command: it is written to the instance's
status (never its spec, never bumping its generation), and the store derives the state
users see (:mod:`tashi.domain.derive`). Two observations make the manager act: a start
that failed unbinds the instance (Held, to be retried elsewhere), and a VM absent from
a host where it was to be deleted lets its record go. A report about an instance not
bound to the reporting host is ignored (and logged).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tashi.common.clock import Clock
from tashi.common.hostpaths import without_host_paths
from tashi.domain.derive import (
    Directive,
    Observed,
    directive_for,
    may_start,
    observation_message,
    observed_status,
)
from tashi.domain.desired import DesiredDisk, DesiredInstance, DesiredNic, Observation
from tashi.domain.errors import Conflict, NotFound
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.ha import DEFAULT_LEASE_S
from tashi.domain.models import (
    DiskSpec,
    Image,
    ImageFormat,
    Instance,
    InstanceStatus,
    StartFailure,
)
from tashi.domain.states import Power
from tashi.manager.instances import InstanceService
from tashi.manager.migration import MigrationService
from tashi.manager.notifier import PENDING, Notifier, console_key, host_key
from tashi.manager.suspend import SavedStates
from tashi.store.base import Store

log = logging.getLogger(__name__)
_LIVE = frozenset({Observed.RUNNING, Observed.PAUSED})  # what a reboot leaves


class ReportService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier,
                 instances: InstanceService, migrations: MigrationService, *,
                 ha_lease_s: float = DEFAULT_LEASE_S) -> None:
        """``ha_lease_s``: the lease agents are told for their HA instances."""
        self._migrations = migrations
        self._ha_lease_s = ha_lease_s
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._instances = instances
        self._saved = SavedStates(clock, instances)

    def desired_state(self, host: str) -> tuple[int, list[DesiredInstance]]:
        """The store's epoch, read first (see :mod:`tashi.agent.epoch`), and
        :meth:`desired`."""
        return self._store.epoch(), self.desired(host)

    def desired(self, host: str) -> list[DesiredInstance]:
        images = {i.name: i for i in self._store.list_images()}
        networks = {n.name: n for n in self._store.list_networks()}
        out = []
        instances = self._store.list_instances(host=host)
        arriving = self._migrations.incoming(host)  # this host is their migration's target
        incoming = {i.id for i in arriving}
        instances += arriving
        displays = self._store.pending_displays([i.id for i in instances])
        for inst in instances:
            target = inst.id in incoming
            disks = tuple(desired_disk(d, images) for d in inst.spec.disks
                          if d.empty or d.image in images)
            nics = tuple(DesiredNic(network=n.network, network_kind=networks[n.network].kind,
                                    mac=n.mac, model=n.model)
                         for n in inst.spec.nics if n.network in networks)
            out.append(DesiredInstance(
                id=inst.id, name=inst.name, state=inst.state,
                directive=Directive.INCOMING if target else directive_for(inst.spec,
                                                                          inst.status),
                may_start=target or may_start(inst.spec, inst.status),
                cores=inst.spec.cores, memory_mib=inst.spec.memory_mib, disks=disks,
                nics=nics, shutdown_timeout_s=inst.spec.shutdown_timeout_s,
                generation=inst.generation, seed=inst.spec.seed, reboots=inst.spec.reboots,
                reboot_hard=inst.spec.reboot_hard, resume=inst.status.saved and not target,
                display=None if target else displays.get(inst.id),
                migration=self._migrations.desired(inst, host),
                ha_lease_s=self._ha_lease_s if inst.spec.ha and not target else 0.0))
        return out

    def apply(self, host: str, observations: Sequence[Observation], *,
              again: bool = True) -> int:
        """Apply a host's report; return how many observations were ignored. What only
        records an observation (most of a report: Activating to Running, say) is written
        in one transaction for the whole report, after the rest; one whose instance
        changed meanwhile is applied ``again`` to it as it is now."""
        ignored = 0
        bound = {i.id: i for i in self._store.list_instances(
            host=host, ids={o.id for o in observations})}
        seen: list[tuple[Instance, InstanceStatus, str]] = []
        for obs in observations:
            try:
                instance = bound.get(obs.id) or self._store.get_instance(obs.id)
            except NotFound:
                ignored += 1
                continue
            if instance.spec.host != host:
                if self._migrations.from_target(host, instance, obs):
                    continue
                log.warning("host %s reported instance %d, bound to %s: ignored",
                            host, obs.id, instance.spec.host)
                ignored += 1
                continue
            if obs.console is not None:
                self._store.put_console(instance.id, obs.console)
                self._notifier.bump(console_key(instance.id))
            try:
                if not self._migrations.from_source(instance, obs):
                    self._apply_one(instance, obs, seen)
            except Conflict as exc:  # changed meanwhile; the next report re-applies
                log.info("instance %d: report from %s not applied: %s", obs.id, host, exc)
        changed = self._record(host, seen)
        if changed and again:
            ignored += self.apply(host, [o for o in observations if o.id in changed],
                                  again=False)
        return ignored

    def _record(self, host: str, seen: Sequence[tuple[Instance, InstanceStatus, str]],
                ) -> set[int]:
        """Write the observations ``seen`` (instance, its new status, why) at once; the
        instances left out because they changed since they were read."""
        if not seen:
            return set()
        try:
            updated = self._store.set_instance_statuses([(i.id, st, i.generation)
                                                         for i, st, _ in seen])
        except NotFound as exc:  # one deleted meanwhile: each on its own, the rest go in
            log.info("report from %s: %s; its observations written one by one", host, exc)
            left: set[int] = set()
            for one in seen:
                with contextlib.suppress(NotFound):
                    left |= self._record(host, [one])
            return left
        done = [(before, after, why) for (before, _, why), after
                in zip(seen, updated, strict=True) if after is not None]
        changed = {before.id for (before, _, _), after in zip(seen, updated, strict=True)
                   if after is None}
        if changed:
            log.info("report from %s: instance(s) %s changed since read; applied again",
                     host, ", ".join(map(str, sorted(changed))))
        self._instances.changed_many(done, actor=f"agent of host {host}")
        for before, after, _ in done:
            if after.status.recovered_at is not None \
                    and after.status.recovered_at != before.status.recovered_at:
                self._ran_again(after, host)
        return changed

    def consoles(self, host: str, tails: Sequence[tuple[int, str]]) -> int:
        """Keep the console tails a host's agent sent (those of instances bound there)
        and wake who follows them; how many were kept."""
        kept = []
        for instance_id, text in tails:
            try:
                instance = self._store.get_instance(instance_id)
            except NotFound:
                continue
            if instance.spec.host != host:
                log.warning("host %s sent the console of instance %d, bound to %s: ignored",
                            host, instance_id, instance.spec.host)
                continue
            self._store.put_console(instance_id, text)
            kept.append(instance_id)
        self._notifier.bump(*(console_key(i) for i in kept))
        return len(kept)

    def _apply_one(self, instance: Instance, obs: Observation,
                   seen: list[tuple[Instance, InstanceStatus, str]]) -> None:
        """Act on one observation; one that only records what was seen is added to
        ``seen``, written by the caller with the others."""
        if obs.busy:
            self._progress(instance, obs)
            return
        host = str(instance.spec.host)
        deleting = instance.spec.power is Power.DELETED
        detail = without_host_paths(obs.detail)  # users see it; the host's layout stays here
        if detail != obs.detail:
            log.info("instance %d: host %s reports it %s: %s", instance.id, host,
                     obs.observed, obs.detail)
        message = observation_message(obs.observed, detail, host, deleting=deleting)
        now = self._clock.now()
        status = replace(observed_status(instance.status, obs.observed),
                         message=message or instance.status.message, observed_at=now,
                         observed_generation=instance.generation)
        if obs.reboots > instance.status.reboots_done and obs.observed in _LIVE:
            status = replace(status, reboots_done=obs.reboots)
            self._rebooted(instance, obs.reboots, host)
        status = replace(status, progress=None)
        if deleting and obs.observed is Observed.ABSENT:
            self._remove(instance)
        elif obs.observed is Observed.FAILED and may_start(instance.spec, instance.status):
            if instance.status.saved:
                self._saved.resume_failed(instance, status, message or "its resume failed")
            else:
                self._hold(instance, status, message or "its start failed")
        elif obs.observed is Observed.SUSPENDED and instance.spec.power is Power.SUSPENDED:
            self._saved.suspended(instance, status)
        elif obs.failure and instance.spec.power is Power.SUSPENDED and obs.observed in _LIVE:
            self._saved.suspend_failed(instance, status, without_host_paths(obs.failure),
                                       obs.observed)
        elif status != replace(instance.status, observed_at=now):
            recovered = _recovered(instance, status, obs.observed, now)
            seen.append((instance, recovered or status,
                         message or f"host {host} reports it {obs.observed}"))

    def _progress(self, instance: Instance, obs: Observation) -> None:
        """An operation in flight on the bound host (a suspend, a resume): only how far
        it got is kept (written when the percentage changes)."""
        if obs.progress is None or obs.progress == instance.status.progress:
            return
        self._store.set_instance_status(instance.id, replace(
            instance.status, progress=obs.progress,
            message=f"{obs.busy} on host {instance.spec.host}: {obs.progress}%"))

    def _ran_again(self, instance: Instance, host: str) -> None:
        """The first report of an HA-restarted instance running: how long it took."""
        r, at = instance.spec.restarted, instance.status.recovered_at
        assert r is not None
        assert at is not None
        message = (f"HA restart {r.number}: running again on host {host}, "
                   f"{(at - r.heard_at).total_seconds():.1f} s after host {r.host} was "
                   "last heard")
        self._store.add_event(message, instance_id=instance.id, host=host, facts=EventFacts(
            EventKind.INSTANCE_RECOVERED, f"agent of host {host}", instance.owner,
            instance.state, instance.state, instance.spec.resources))
        log.info("instance %d (%s): %s", instance.id, instance.name, message)

    def _rebooted(self, instance: Instance, number: int, host: str) -> None:
        how = "reset" if instance.spec.reboot_hard else "rebooted by its guest (or reset " \
              "after the shutdown timeout)"
        self._store.add_event(
            f"reboot {number} done: {how}", instance_id=instance.id, host=host,
            facts=EventFacts(EventKind.INSTANCE_REBOOTED, f"agent of host {host}",
                             instance.owner, instance.state, instance.state,
                             instance.spec.resources))
        log.info("instance %d (%s): reboot %d done on host %s", instance.id, instance.name,
                 number, host)

    def _remove(self, instance: Instance) -> None:
        """The VM of an instance being deleted is gone from its host: the record goes."""
        self._store.delete_instance(instance.id, generation=instance.generation)
        self._store.add_event(f"{instance.state} -> deleted: VM and files removed",
                              instance_id=instance.id, host=instance.spec.host,
                              facts=EventFacts(EventKind.INSTANCE_DELETED,
                                               f"agent of host {instance.spec.host}",
                                               instance.owner, instance.state, None,
                                               instance.spec.resources))
        log.info("instance %d (%s): destroyed and removed", instance.id, instance.name)
        self._notifier.bump(PENDING, host_key(str(instance.spec.host)))

    def _hold(self, instance: Instance, status: InstanceStatus, why: str) -> None:
        """A start failed: the instance leaves its host, Held, to be placed again
        (retried by :mod:`tashi.manager.retry`, which sets when, or gives up)."""
        failure = StartFailure(host=str(instance.spec.host), reason=why, at=self._clock.now())
        held = replace(status, failures=(*status.failures, failure), retry_at=failure.at,
                       held=True, observed="", ran=False, ended=False)
        self._instances.change_spec(instance, replace(instance.spec, host=None), why,
                                    status=held, actor=f"agent of host {instance.spec.host}")


def _recovered(instance: Instance, status: InstanceStatus, observed: Observed,
               now: datetime) -> InstanceStatus | None:
    """``status`` saying when it ran again, if this is the first report of an
    HA-restarted instance running since its restart; else None."""
    r = instance.spec.restarted
    if observed is not Observed.RUNNING or r is None or (
            status.recovered_at is not None and status.recovered_at >= r.at):
        return None
    return replace(status, recovered_at=now)


def desired_disk(d: DiskSpec, images: Mapping[str, Image]) -> DesiredDisk:
    """What the agent is told of disk ``d``: a blank disk is made as qcow2, a scratch one
    as a sparse raw file, an image disk in its image's format."""
    if d.empty:
        fmt = ImageFormat.RAW if d.scratch else ImageFormat.QCOW2
    else:
        fmt = images[d.image].format
    return DesiredDisk(image=d.image, format=fmt, persistent=d.persistent, size_gib=d.size_gib,
                       scratch=d.scratch, bus=d.bus, cache=d.cache)
