"""HA restarts: the instances created with ``--ha`` whose host failed start again on
another host, from their images (see :mod:`tashi.domain.ha` for why it is safe).

The sweep runs with the liveness sweep. A host that stopped heartbeating is marked
silent after the heartbeat timeout (its instances Orphaned); once its lease also ran
out, each of its HA instances that should be running is unbound in one
generation-checked write (Pending again, placed by the scheduler anywhere but there),
which records the restart (:class:`~tashi.domain.ha.HaRestart`). Its overlay and
scratch disks stay on the failed host: the new VM boots from the image. The first
report of it running records when it ran again.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from tashi.common.clock import Clock
from tashi.domain.errors import Conflict
from tashi.domain.ha import HaRestart, lease_expired, restartable
from tashi.domain.models import Host, Instance, InstanceStatus
from tashi.domain.states import InstanceState
from tashi.manager.instances import InstanceService
from tashi.store.base import Store

log = logging.getLogger(__name__)


class HaService:
    def __init__(self, store: Store, clock: Clock, instances: InstanceService, *,
                 lease_s: float, since: datetime) -> None:
        """``lease_s``: how long after its last heartbeat a host's lease runs out;
        ``since``: when this manager started (no lease runs out sooner after it)."""
        self._store = store
        self._clock = clock
        self._instances = instances
        self.lease_s = lease_s
        self._since = since

    def sweep(self) -> list[Instance]:
        """Restart elsewhere every HA instance whose host is silent and past its lease;
        the instances restarted. One changed meanwhile (a user's action, another
        replica's sweep) is left to the next sweep."""
        now = self._clock.now()
        orphaned = self._store.list_instances(states=[InstanceState.ORPHANED])
        if not orphaned:  # as usual: no need to read thousands of hosts
            return []
        down = {h.name: h for h in self._store.list_hosts()
                if h.silent and lease_expired(h, now, self.lease_s, self._since)}
        if not down:
            return []
        restarted = []
        for instance in orphaned:
            host = down.get(instance.spec.host or "")
            if host is None or not restartable(instance, host):
                continue
            try:
                restarted.append(self._restart(instance, host, now))
            except Conflict as exc:
                log.info("instance %d (%s): HA restart left to the next sweep: %s",
                         instance.id, instance.name, exc)
        return restarted

    def _restart(self, instance: Instance, host: Host, now: datetime) -> Instance:
        assert host.last_heartbeat is not None  # lease_expired says so
        last = instance.spec.restarted
        record = HaRestart(number=(last.number if last else 0) + 1, host=host.name,
                           heard_at=host.last_heartbeat, at=now)
        silent_s = (now - host.last_heartbeat).total_seconds()
        why = (f"HA restart {record.number}: host {host.name} silent for {silent_s:.0f} s, "
               f"its lease ({self.lease_s:.0f} s) expired; started again from its image "
               f"elsewhere (its overlay on host {host.name} lost)")
        spec = replace(instance.spec, host=None, restarted=record,
                       allow_elsewhere=instance.spec.allow_elsewhere
                       or instance.spec.target_host is not None)
        status = InstanceStatus(message=why, observed_at=now,
                                last_migration=instance.status.last_migration)
        updated = self._instances.change_spec(instance, spec, why, status=status,
                                              actor=f"high availability (host {host.name} "
                                              "down)")
        log.warning("instance %d (%s): %s", instance.id, instance.name, why)
        return updated
