"""Evacuating a host: every instance on it moved elsewhere, then the host left Drained.

An admin asks (``tashi host evacuate NAME``: the host's state becomes Evacuating, which
takes no new instances, as Drained). The intent is the host's state, in the store, so
an evacuation outlives the manager replica that started it: a sweep (every second, on
each replica; each step is a generation-checked write, so two replicas never start one
move twice) moves what is on each Evacuating host:

- a Running instance that can move live is migrated to the roomiest host that can take
  it (:meth:`MigrationService.move`); the per-host migration limit and the targets' room
  make the others wait for a later sweep;
- a Running one that cannot move live (a persistent disk, a driver that cannot) is
  suspended and resumed wherever the scheduler places it (never on this host);
- a Paused one is suspended and left Suspended: it is not running, and its memory is
  kept, as paused; its owner resumes it;
- the others wait: they are on their way to one of these states (Activating, Pausing,
  Resuming, ...), or off the host (ShuttingDown, Destroying), or their host is down
  (Orphaned: it cannot be moved until the host is back).

When nothing holds resources on the host any more, it becomes Drained. An admin stops
an evacuation by setting another state (``tashi host drain`` or ``undrain``): the
moves under way end as they would, none is started after.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tashi.domain.errors import Conflict, InvalidTransition
from tashi.domain.migration import MigrationTunables
from tashi.domain.models import Instance
from tashi.domain.states import HOLDS_RESOURCES, HostState, InstanceState
from tashi.manager.hosts import HostService
from tashi.manager.instances import InstanceService
from tashi.manager.migration import MigrationService
from tashi.store.base import Store

log = logging.getLogger(__name__)
S = InstanceState

#: Seconds between sweeps.
EVACUATE_EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Round:
    """What one sweep did on one host."""

    host: str
    started: tuple[str, ...]  # "web: migrating to host h2", "db: suspending ..."
    waiting: tuple[str, ...]  # "web: Activating", "db: no host can take it now (...)"
    done: bool  # nothing left: the host is Drained now


class EvacuationService:
    def __init__(self, store: Store, hosts: HostService, instances: InstanceService,
                 migrations: MigrationService) -> None:
        self._store = store
        self._hosts = hosts
        self._instances = instances
        self._migrations = migrations
        self._said: dict[int, str] = {}  # what each waiting instance last waited on
        self._stepped: set[int] = set()  # the instances the sweep under way looked at

    def sweep(self) -> list[Round]:
        """One round on every Evacuating host (what it said of instances no longer on
        one is forgotten)."""
        self._stepped = set()
        rounds = [self.step(h.name)  # filtered by the store: thousands of hosts, few
                  for h in self._store.list_hosts(states=[HostState.EVACUATING])]
        self._said = {i: why for i, why in self._said.items() if i in self._stepped}
        return rounds

    def step(self, host: str) -> Round:
        """Start what can start on ``host`` now; Drained when nothing is left."""
        actor = f"the evacuation of host {host}"
        on = [i for i in self._store.list_instances(host=host, states=HOLDS_RESOURCES)
              if i.spec.host == host]
        self._stepped.update(i.id for i in on)
        started: list[str] = []
        waiting: list[str] = []
        for instance in on:
            try:
                what = self._move(instance, actor)
            except (Conflict, InvalidTransition) as exc:  # StaleGeneration too
                self._wait(instance, f"{instance.name}: {exc.message}", waiting)
                continue
            if what is None:
                self._wait(instance, f"{instance.name}: {instance.state}", waiting)
            else:
                started.append(f"{instance.name}: {what}")
                log.info("host %s: evacuation: instance %d (%s) %s", host, instance.id,
                         instance.name, what)
        if on:
            return Round(host, tuple(started), tuple(waiting), done=False)
        self._hosts.set_state(host, HostState.DRAINED, f"{actor} (no instance left on it)")
        log.info("host %s: evacuated; it is Drained", host)
        return Round(host, (), (), done=True)

    def _move(self, instance: Instance, actor: str) -> str | None:
        """Start moving ``instance``; what was started (None: it must wait as it is)."""
        if instance.spec.migration is not None or instance.state not in (S.RUNNING,
                                                                         S.PAUSED):
            return None
        if instance.state is S.PAUSED:
            self._instances.relocate(instance, actor, resume=False)
            return "suspending (paused: it stays suspended, its memory kept)"
        try:
            moved = self._migrations.move(instance, None, MigrationTunables(), actor)
        except InvalidTransition as exc:  # it cannot move live: suspended, then resumed
            self._instances.relocate(instance, actor, resume=True)
            return f"suspending, to be resumed elsewhere ({exc.message})"
        m = moved.spec.migration
        return f"migrating to host {m.target if m else '?'}"

    def _wait(self, instance: Instance, why: str, waiting: list[str]) -> None:
        waiting.append(why)
        if self._said.get(instance.id) != why:  # logged once per reason
            self._said[instance.id] = why
            log.info("host %s: evacuation waits on %s", instance.spec.host, why)


async def evacuation_loop(evacuations: EvacuationService, interval_s: float) -> None:
    """Move what is on Evacuating hosts, a round every ``interval_s``."""
    while True:
        try:
            await asyncio.to_thread(evacuations.sweep)
        except Exception:
            log.exception("evacuation sweep failed; retrying")
        await asyncio.sleep(interval_s)
