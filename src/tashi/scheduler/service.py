"""The scheduler agent: watch Pending instances, place them, bind them through the API."""

from __future__ import annotations

import asyncio
import logging

from tashi.api.schemas import BindIn, PendingOut, SnapshotOut
from tashi.client import TashiClient
from tashi.domain.errors import Conflict, NotFound, TashiError
from tashi.domain.resources import Resources
from tashi.scheduler.placement import (
    DEFAULT_POLICY,
    ClusterSnapshot,
    Decision,
    ExternalPolicy,
    HostSnapshot,
    PlacementRequest,
    Placer,
    Policy,
    policy_named,
)

log = logging.getLogger(__name__)


def hosts_of(snapshot: SnapshotOut) -> list[HostSnapshot]:
    """The wire's hosts for the pure core (disk, reservations, networks and groups are
    not on the wire yet: their defaults mean none asked, anyone, all, none)."""
    return [HostSnapshot(name=h.name, up=h.up, state=h.state,
                         capacity=Resources(h.cores, h.memory_mib),
                         used=Resources(h.used_cores, h.used_memory_mib), instances=h.instances)
            for h in snapshot.hosts]


def cluster_of(snapshot: SnapshotOut) -> ClusterSnapshot:
    return ClusterSnapshot(tuple(hosts_of(snapshot)))


def request_of(p: PendingOut) -> PlacementRequest:
    return PlacementRequest(p.id, p.name, Resources(p.cores, p.memory_mib), owner=p.owner)


class Scheduler:
    def __init__(self, client: TashiClient,
                 policy: Policy | ExternalPolicy | str = DEFAULT_POLICY, *,
                 poll_wait_s: float = 20.0, retry_s: float = 5.0) -> None:
        self._client = client
        self._policy = policy_named(policy) if isinstance(policy, str) else policy
        self._poll_wait_s = poll_wait_s
        self._retry_s = retry_s

    async def run(self) -> None:
        since: str | None = None
        while True:
            try:
                snap = await self._client.snapshot(since, self._poll_wait_s)
            except TashiError as exc:
                log.warning("scheduler: snapshot failed (%s); retrying", exc.message)
                await asyncio.sleep(self._retry_s)
                since = None
                continue
            # Unplaceable instances stay Pending: any change that could make room
            # (a host up, an instance gone) bumps the revision and wakes us.
            await self.schedule(snap)
            since = snap.revision

    async def schedule(self, snap: SnapshotOut) -> int:
        """Place every Pending instance of ``snap``; return how many were bound."""
        placer = Placer(cluster_of(snap), self._policy)
        bound = 0
        for p in snap.pending:
            decision = await self._place(placer, request_of(p))
            try:
                if decision.host is None:
                    log.info("instance %d (%s): pending: %s", p.id, p.name, decision.reason)
                    await self._client.note_unplaced(p.id, decision.reason)
                    continue
                await self._client.bind(p.id, BindIn(host=decision.host,
                                                     generation=p.generation))
                log.info("instance %d (%s): bound to host %s (%s)", p.id, p.name,
                         decision.host, decision.reason)
                bound += 1
            except (Conflict, NotFound) as exc:  # changed meanwhile: the next look decides
                log.info("instance %d (%s): not bound: %s", p.id, p.name, exc.message)
        return bound

    @staticmethod
    async def _place(placer: Placer, request: PlacementRequest) -> Decision:
        if placer.does_io:  # an external program: not on the event loop
            return await asyncio.to_thread(placer.place, request)
        return placer.place(request)
