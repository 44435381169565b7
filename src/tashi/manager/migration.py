"""Live migration, applied to the store: asked, aborted, and moved on by what the two
agents report (the protocol is in :mod:`tashi.domain.migration`).

Only admins move instances (as in Nova and Ganeti: where a VM runs is the operators'
business). A migration starts from Running only, onto a host that is up, Normal, has
the same hypervisor (version, accelerator, CPU model and machine types) and room for
the instance's claim, checked in the writing transaction
(:meth:`tashi.store.base.Store.start_migration`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from tashi.common.clock import Clock
from tashi.common.hostpaths import without_host_paths
from tashi.domain.capabilities import Ability, HostCapabilities
from tashi.domain.derive import Observed
from tashi.domain.desired import Observation
from tashi.domain.errors import Conflict, InvalidTransition, NotFound
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.migration import (
    DesiredMigration,
    MigrationResult,
    MigrationSpec,
    MigrationTunables,
)
from tashi.domain.models import Host, Instance, InstanceStatus, Principal
from tashi.domain.states import MIGRATING, HostState, InstanceState
from tashi.identity.access import require_admin
from tashi.manager.instances import InstanceService
from tashi.manager.notifier import Notifier, host_key
from tashi.store.base import Store

log = logging.getLogger(__name__)
S = InstanceState

#: What records an observed downtime, in seconds (the manager's metrics).
Observe = Callable[[float], None]


class MigrationService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier,
                 instances: InstanceService, is_up: Callable[[Host], bool],
                 observe_downtime: Observe | None = None, per_host: int = 2) -> None:
        """``per_host``: how many migrations a host may have under way at once, in and
        out together (Nova's ``max_concurrent_live_migrations``)."""
        self._store = store
        self._per_host = per_host
        self._clock = clock
        self._notifier = notifier
        self._instances = instances
        self._is_up = is_up
        self._observe = observe_downtime

    # --- what users ask ---------------------------------------------------------------

    def start(self, principal: Principal, ref: str, to: str | None,
              tunables: MigrationTunables) -> Instance:
        """Ask for instance ``ref`` to move to host ``to`` (None: the roomiest host that
        can take it) while it runs."""
        require_admin(principal)
        tunables.check()
        return self.move(self._instances.get(principal, ref), to, tunables, principal.label)

    def move(self, instance: Instance, to: str | None, tunables: MigrationTunables,
             asked_by: str) -> Instance:
        """Start moving ``instance`` live to ``to`` (None: the roomiest host that can take
        it), asked by ``asked_by`` (an admin, or an evacuation): InvalidTransition when
        it cannot move live at all, Conflict when no host can take it now."""
        source = self._check_migratable(instance)
        candidates = [self._target(instance, source, to)] if to else self._candidates(
            instance, source)
        refusals = []
        for target in candidates:
            try:
                return self._begin(asked_by, instance, source, target.name, tunables)
            except Conflict as exc:
                if to:
                    raise
                refusals.append(exc.message)
        raise Conflict(f"cannot migrate {instance.name}: no host can take it"
                       + (f" ({'; '.join(refusals)})" if refusals else
                          f" (no other up host has the {source.name} host's hypervisor)"))

    def abort(self, principal: Principal, ref: str) -> Instance:
        """Give up the migration under way (the VM runs on on its source)."""
        require_admin(principal)
        instance = self._instances.get(principal, ref)
        migration = instance.spec.migration
        if migration is None:
            raise InvalidTransition(f"cannot abort the migration of {instance.name}: it is "
                                    f"{instance.state}, not migrating")
        if instance.status.migrated is not None:
            raise InvalidTransition(
                f"cannot abort the migration of {instance.name}: host {migration.source} "
                f"sent all of it already; it switches to host {migration.target}")
        why = (f"migration {migration.number} to host {migration.target} aborted by "
               f"{principal.label}")
        return self._end(instance, why, actor=principal.label, failure=why)

    # --- what agents are told ---------------------------------------------------------

    def incoming(self, host: str) -> list[Instance]:
        """The instances migrating to ``host``: its agent prepares a VM for each."""
        return [i for i in self._store.list_instances(states=MIGRATING)
                if i.spec.migration is not None and i.spec.migration.target == host]

    @staticmethod
    def desired(instance: Instance, host: str) -> DesiredMigration | None:
        """What ``host``'s agent is told of ``instance``'s migration (None: none)."""
        m = instance.spec.migration
        if m is None or instance.state not in MIGRATING:
            return None
        if host == m.target:
            return DesiredMigration(m.number, "target", m.source, m.target, m.tunables)
        endpoint = instance.status.incoming
        ready = endpoint is not None and endpoint.number == m.number
        return DesiredMigration(m.number, "source", m.source, m.target, m.tunables,
                                endpoint if ready else None)

    # --- what agents report -----------------------------------------------------------

    def from_target(self, host: str, instance: Instance, obs: Observation) -> bool:
        """A report of ``host`` on ``instance`` as its migration's target; False when it is
        not (then it is ignored)."""
        m, report = instance.spec.migration, obs.migration
        if m is None or m.target != host or report is None or report.number != m.number \
                or report.role != "target":
            return False
        if obs.observed is Observed.RUNNING:  # QEMU runs it only once it has it all
            source = self._store.get_host(m.source)
            if instance.status.migrated is not None or source.silent:
                self._switch(instance, host)
            return True
        if report.endpoint is not None and report.endpoint != instance.status.incoming:
            status = replace(instance.status, incoming=report.endpoint,
                             message=f"host {host} waits for it: migrating from host "
                             f"{m.source}")
            updated = self._store.set_instance_status(instance.id, status)
            self._instances.changed(instance, updated, f"host {host} is ready to take it",
                                    actor=f"agent of host {host}")
            self._notifier.bump(host_key(m.source))
        return True

    def from_source(self, instance: Instance, obs: Observation) -> bool:
        """A report of the bound host on its migration; True when it said all there is
        (the usual observation is then not applied)."""
        m, report = instance.spec.migration, obs.migration
        if m is None or report is None or report.number != m.number or report.role != "source":
            return False
        if report.failure:
            failure = without_host_paths(report.failure)
            why = f"migration {m.number} to host {m.target} failed: {failure}"
            self._end(instance, why, actor=f"agent of host {m.source}", failure=why)
            return True
        if report.result is not None and instance.status.migrated is None:
            result = replace(report.result, source=m.source, target=m.target,
                             at=self._clock.now())
            status = replace(instance.status, migrated=result, migrating=None,
                             message=f"host {m.source} sent all of it to host {m.target} "
                             f"({result.words()}); waiting for it to run there")
            updated = self._store.set_instance_status(instance.id, status)
            self._instances.changed(instance, updated, "sent to its target",
                                    actor=f"agent of host {m.source}")
            self._notifier.bump(host_key(m.target))
            return True
        if report.progress is not None and report.progress != instance.status.migrating:
            p = report.progress
            self._store.set_instance_status(instance.id, replace(
                instance.status, migrating=p, message=f"migrating to host {m.target}: "
                f"{p.phase or 'memory'} {p.percent}%"))
            return obs.busy == "migrate"
        return obs.busy == "migrate"

    # --- internals --------------------------------------------------------------------

    def _check_migratable(self, instance: Instance) -> Host:
        if instance.state is not S.RUNNING or instance.spec.host is None:
            raise InvalidTransition(f"cannot migrate {instance.name}: it is {instance.state}; "
                                    "migrate needs Running")
        if any(d.persistent for d in instance.spec.disks):
            raise InvalidTransition(f"cannot migrate {instance.name}: it has a persistent "
                                    "disk (written in place in the image directory, which "
                                    "two hosts cannot hold open at once)")
        source = self._store.get_host(instance.spec.host)
        if source.capabilities is None or not source.capabilities.can(Ability.LIVE_MIGRATION):
            raise InvalidTransition(f"cannot migrate {instance.name}: host {source.name} "
                                    "cannot live-migrate (its driver cannot)")
        return source

    def _target(self, instance: Instance, source: Host, name: str) -> Host:
        if name == source.name:
            raise InvalidTransition(f"cannot migrate {instance.name} to host {name}: it "
                                    "runs there already")
        try:
            host = self._store.get_host(name)
        except NotFound:
            raise NotFound(f"cannot migrate {instance.name}: host {name} not found") from None
        why = self._unfit(source, host)
        if why:
            raise Conflict(f"cannot migrate {instance.name} to host {name}: {why}")
        return host

    def _candidates(self, instance: Instance, source: Host) -> list[Host]:
        """The hosts that could take it, the most free memory first."""
        usage = self._store.usage_by_host()
        fit = [h for h in self._store.list_hosts()
               if h.name != source.name and not self._unfit(source, h)]
        return sorted(fit, key=lambda h: (-(h.memory_mib - usage[h.name].used.memory_mib
                                            if h.name in usage else h.memory_mib), h.name))

    def _unfit(self, source: Host, host: Host) -> str:
        """Why ``host`` cannot take a VM from ``source`` whatever its room ("": it can)."""
        if not self._is_up(host) or host.silent:
            return "it is not up"
        if host.state is not HostState.NORMAL:
            return f"it is {host.state}"
        return incompatible(source.capabilities, host.capabilities)

    def _begin(self, asked_by: str, instance: Instance, source: Host, target: str,
               tunables: MigrationTunables) -> Instance:
        number = instance.spec.migrations + 1
        migration = MigrationSpec(number, source.name, target, tunables, asked_by)
        why = f"migration {number} to host {target} asked by {asked_by}"
        spec = replace(instance.spec, migration=migration, migrations=number)
        status = replace(instance.status, incoming=None, migrating=None, migrated=None,
                         last_failure="", message=why, observed_at=self._clock.now())
        updated = self._store.start_migration(instance.id, generation=instance.generation,
                                              spec=spec, status=status,
                                              per_host=self._per_host)
        self._instances.changed(instance, updated, why, actor=asked_by)
        self._event(updated, why, asked_by)
        self._notifier.bump(host_key(target))
        log.info("instance %d (%s): %s", instance.id, instance.name, why)
        return updated

    def _switch(self, instance: Instance, target: str) -> None:
        """The target's VM runs: the instance is bound there now, in one write."""
        m = instance.spec.migration
        assert m is not None
        result = instance.status.migrated
        words = result.words() if result is not None else (
            f"{m.source} -> {target}; figures unknown: host {m.source} went silent")
        why = f"migration {m.number} done: {words}"
        status = InstanceStatus(
            observed=Observed.RUNNING, message=why, observed_at=self._clock.now(),
            observed_generation=instance.generation + 1, ran=True,
            reboots_done=instance.status.reboots_done,
            last_migration=result or MigrationResult(m.number, m.source, target, 0, 0,
                                                     self._clock.now()))
        try:
            updated = self._instances.change_spec(
                instance, replace(instance.spec, host=target, migration=None), why,
                status=status, actor=f"agent of host {target}")
        except Conflict as exc:  # changed meanwhile: the next report switches it
            log.info("instance %d: not switched to host %s yet: %s", instance.id, target, exc)
            return
        self._event(updated, why, f"agent of host {target}")
        if result is not None and self._observe is not None:
            self._observe(result.downtime_ms / 1000)
        self._notifier.bump(host_key(m.source), host_key(target))
        log.info("instance %d (%s): %s", instance.id, instance.name, why)

    def _end(self, instance: Instance, why: str, *, actor: str, failure: str) -> Instance:
        """The migration is over without moving the instance: it runs on its source."""
        m = instance.spec.migration
        assert m is not None
        status = replace(instance.status, incoming=None, migrating=None, migrated=None,
                         last_failure=failure, message=why, observed_at=self._clock.now())
        updated = self._instances.change_spec(
            instance, replace(instance.spec, migration=None), why, status=status, actor=actor)
        self._event(updated, why, actor)
        self._notifier.bump(host_key(m.target))
        log.warning("instance %d (%s): %s", instance.id, instance.name, why)
        return updated

    def _event(self, instance: Instance, message: str, actor: str) -> None:
        self._store.add_event(message, instance_id=instance.id, host=instance.spec.host,
                              facts=EventFacts(EventKind.INSTANCE_MIGRATED, actor,
                                               instance.owner, instance.state, instance.state,
                                               instance.spec.resources))


def incompatible(source: HostCapabilities | None, target: HostCapabilities | None) -> str:
    """Why a VM of a host with ``source`` capabilities cannot move live to one with
    ``target`` ("": it can): the same hypervisor, version, accelerator and CPU model
    guests see, and the machine types of the source."""
    if target is None or not target.can(Ability.LIVE_MIGRATION):
        return "its driver cannot take live migrations"
    if source is None:
        return "the source never said what it runs"
    a, b = source.facts, target.facts
    for what, mine, theirs in (("hypervisor", a.hypervisor, b.hypervisor),
                               ("hypervisor version", a.version, b.version),
                               ("accelerator", a.accelerator, b.accelerator),
                               ("CPU model", a.cpu_model, b.cpu_model)):
        if mine != theirs:
            return f"its {what} is {theirs or 'unknown'}, not {mine or 'unknown'}"
    if a.cpu_model == "host" and a.host_cpu != b.host_cpu:
        return f"guests see the host's CPU, and its CPU is {b.host_cpu}, not {a.host_cpu}"
    missing = a.machine_types - b.machine_types
    if missing:
        return f"it lacks the machine types {', '.join(sorted(missing))}"
    return ""
