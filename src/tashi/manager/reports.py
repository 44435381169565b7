"""What each agent is asked for, and what its reports change.

An agent's report is an observation, never a command: the manager decides what
it means through :func:`tashi.domain.lifecycle.next_state`. A report about an
instance not bound to the reporting host is ignored (and logged).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from tashi.api.schemas import DesiredDisk, DesiredInstance, DesiredNic, Observation
from tashi.common.clock import Clock
from tashi.domain.errors import Conflict, NotFound
from tashi.domain.lifecycle import (
    DELETE,
    Observed,
    directive_for,
    may_start,
    next_state,
    observation_message,
)
from tashi.domain.models import Instance, StartFailure
from tashi.domain.states import InstanceState
from tashi.manager.instances import InstanceService
from tashi.manager.notifier import PENDING, Notifier, host_key
from tashi.store.base import Store

log = logging.getLogger(__name__)


class ReportService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier,
                 instances: InstanceService) -> None:
        self._store = store
        self._clock = clock
        self._notifier = notifier
        self._instances = instances

    def desired(self, host: str) -> list[DesiredInstance]:
        images = {i.name: i for i in self._store.list_images()}
        networks = {n.name: n for n in self._store.list_networks()}
        out = []
        for inst in self._store.list_instances(host=host):
            disks = [DesiredDisk(image=d.image, format=images[d.image].format,
                                 persistent=d.persistent)
                     for d in inst.spec.disks if d.image in images]
            nics = [DesiredNic(network=n.network, network_kind=networks[n.network].kind,
                               mac=n.mac, model=n.model)
                    for n in inst.spec.nics if n.network in networks]
            out.append(DesiredInstance(
                id=inst.id, name=inst.name, state=inst.state,
                directive=directive_for(inst.state), may_start=may_start(inst.state),
                cores=inst.spec.cores, memory_mib=inst.spec.memory_mib, disks=disks,
                nics=nics, shutdown_timeout_s=inst.spec.shutdown_timeout_s,
                generation=inst.generation))
        return out

    def apply(self, host: str, observations: list[Observation]) -> int:
        """Apply a host's report; return how many observations were ignored."""
        ignored = 0
        for obs in observations:
            try:
                instance = self._store.get_instance(obs.id)
            except NotFound:
                ignored += 1
                continue
            if instance.spec.host != host:
                log.warning("host %s reported instance %d, bound to %s: ignored",
                            host, obs.id, instance.spec.host)
                ignored += 1
                continue
            if obs.console is not None:
                self._store.put_console(instance.id, obs.console)
            try:
                self._apply_one(instance, obs)
            except Conflict as exc:  # changed meanwhile; the next report re-applies
                log.info("instance %d: report from %s not applied: %s", obs.id, host, exc)
        return ignored

    def _apply_one(self, instance: Instance, obs: Observation) -> None:
        message = observation_message(instance.state, obs.observed, obs.detail,
                                      str(instance.spec.host))
        now = self._clock.now()
        status = replace(instance.status, observed=obs.observed,
                         message=message or instance.status.message, observed_at=now,
                         observed_generation=instance.generation)
        target = next_state(instance.state, obs.observed)
        if target == DELETE:
            self._store.delete_instance(instance.id, generation=instance.generation)
            self._store.add_event(f"{instance.state} -> deleted: VM and files removed",
                                  instance_id=instance.id, host=instance.spec.host)
            log.info("instance %d (%s): destroyed and removed", instance.id, instance.name)
            self._notifier.bump(PENDING, host_key(str(instance.spec.host)))
        elif isinstance(target, InstanceState):
            why = message or f"agent observed {obs.observed}"
            spec = None
            if target is InstanceState.HELD:  # it leaves its host, to be placed again
                spec = replace(instance.spec, host=None)
                failure = StartFailure(host=str(instance.spec.host), reason=why, at=now)
                # retried (see manager.retry), which sets when; or not, and unsets it
                status = replace(status, failures=(*status.failures, failure), retry_at=now)
            self._instances.transition(instance, target, why, spec=spec, status=status)
        elif (instance.status.observed, instance.status.message) != (obs.observed, status.message):
            self._store.set_instance_status(instance.id, status)

    def orphan_instances_of(self, host: str, why: str) -> int:
        """Mark the instances of a host that stopped heartbeating Orphaned."""
        count = 0
        for inst in self._store.list_instances(host=host):
            if inst.state is InstanceState.ORPHANED or inst.status.observed == Observed.ABSENT:
                continue
            try:
                self._instances.transition(inst, InstanceState.ORPHANED, why)
                count += 1
            except Conflict:  # e.g. Exited, ShuttingDown already: left as they are
                continue
        return count
