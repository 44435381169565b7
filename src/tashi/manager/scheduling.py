"""What a scheduler places from: every host with its usage, the Pending instances, and
the facts about the whole cluster its filters need. Read for ``GET /scheduler/snapshot``;
the API turns it into the wire's :class:`~tashi.api.schemas.SnapshotOut`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tashi.common.clock import Clock
from tashi.domain.derive import awaits_placement
from tashi.domain.models import Instance, Network, Principal
from tashi.domain.resources import Resources
from tashi.domain.states import HOLDS_RESOURCES, InstanceState
from tashi.identity.access import require_user
from tashi.manager.hosts import HostService, HostView
from tashi.store.base import Store


@dataclass(frozen=True, slots=True)
class SchedulingSnapshot:
    hosts: tuple[HostView, ...]
    pending: tuple[Instance, ...]
    #: The persistent images of instances holding resources that Pending ones want too
    #: (an image is written by one VM at a time).
    persistent_images_in_use: tuple[str, ...]
    networks: tuple[Network, ...]  # every network: the kinds the Pending NICs attach to
    at: datetime  # when it was read: what each instance's avoided hosts are judged at


class SchedulingService:
    def __init__(self, store: Store, clock: Clock, hosts: HostService) -> None:
        self._store = store
        self._clock = clock
        self._hosts = hosts

    def snapshot(self) -> SchedulingSnapshot:
        """The Pending instances, then the hosts, as they are now (an instance bound in
        between shows both Pending and in its host's usage: the scheduler's binding of it
        is refused, never overcommitting)."""
        pending = tuple(i for i in self._store.list_instances(
            states=[InstanceState.PENDING, InstanceState.RESUMING])
            if awaits_placement(i.spec, i.status))
        at = self._clock.now()
        hosts = tuple(self._hosts.views())
        return SchedulingSnapshot(hosts, pending, self._persistent_in_use(pending),
                                  tuple(self._store.list_networks()), at)

    def slots(self, principal: Principal, size: Resources) -> list[tuple[str, int, str]]:
        """How many more of the caller's instances of ``size`` fit, per host, and what
        limits each (:meth:`HostService.slots`). A user's view leaves out the hosts
        reserved for others (and so whom they are reserved for); an admin's has all."""
        user = require_user(principal)
        per_host = self._hosts.slots(size, user.name)
        if user.is_admin:
            return per_host
        theirs = {h.name for h in self._store.list_hosts()
                  if not h.reserved_for or user.name in h.reserved_for}
        return [row for row in per_host if row[0] in theirs]

    def _persistent_in_use(self, pending: Sequence[Instance]) -> tuple[str, ...]:
        """The persistent images of running instances that Pending ones want too (none
        wanted, as is usual: no need to look)."""
        wanted = {d.image for i in pending for d in i.spec.disks if d.persistent}
        if not wanted:
            return ()
        holding = self._store.list_instances(states=HOLDS_RESOURCES)
        return tuple(sorted(wanted & {d.image for i in holding for d in i.spec.disks
                                      if d.persistent}))
