"""The scheduler agent: watch Pending instances, place them, bind them through the API.

Each pass places every Pending instance of one snapshot with the pure core, then
sends the decisions as batches of bindings (``POST /scheduler/bindings``). The
manager checks each binding against the host's usage inside its store transaction,
so two schedulers (or a scheduler and a stale snapshot) never overcommit a host: a
refused binding stays Pending and the next snapshot decides again.

While the manager cannot be reached (or answers 5xx or 429) the scheduler keeps
trying, waiting 1 s, doubling up to 30 s; a refused token (not an admin's, or not
known at all) stops it with an error that says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from tashi.api.schemas import BindingIn, CapabilitiesWire, PendingOut, SnapshotOut, UnplacedIn
from tashi.client import TashiClient
from tashi.client.comeback import pause_after
from tashi.domain.capabilities import HostCapabilities
from tashi.domain.errors import Forbidden, TashiError, Unauthenticated
from tashi.domain.needs import Needs
from tashi.domain.resources import Resources
from tashi.scheduler.placement import (
    DEFAULT_POLICY,
    ClusterFacts,
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

#: Bindings (or reasons for not placing) per request to the manager.
BATCH = 1000
#: The longest wait between two attempts to reach the manager.
RETRY_MAX_S = 30.0


def hosts_of(snapshot: SnapshotOut) -> list[HostSnapshot]:
    """The wire's hosts for the pure core."""
    return [HostSnapshot(name=h.name, up=h.up, state=h.state,
                         capacity=Resources(h.cores, h.memory_mib, h.disk_gib),
                         used=Resources(h.used_cores, h.used_memory_mib, h.used_disk_gib),
                         instances=h.instances, reserved_for=frozenset(h.reserved_for),
                         networks=frozenset(h.networks), groups=frozenset(h.groups),
                         capabilities=capabilities_of(h.capabilities))
            for h in snapshot.hosts]


def capabilities_of(wire: CapabilitiesWire | None) -> HostCapabilities | None:
    return None if wire is None else wire.domain()


def cluster_of(snapshot: SnapshotOut) -> ClusterSnapshot:
    facts = ClusterFacts(persistent_images_in_use=frozenset(snapshot.persistent_images_in_use))
    return ClusterSnapshot(tuple(hosts_of(snapshot)), facts)


def request_of(p: PendingOut) -> PlacementRequest:
    return PlacementRequest(
        p.id, p.name, Resources(p.cores, p.memory_mib, p.disk_gib), owner=p.owner,
        target_host=p.target_host, allow_elsewhere=p.allow_elsewhere, group=p.group,
        anti_affinity=p.anti_affinity, persistent_images=frozenset(p.persistent_images),
        networks=frozenset(p.networks),
        needs=Needs(frozenset(p.nic_models), frozenset(p.network_kinds),
                    frozenset(p.abilities)))


def place_avoiding(placer: Placer, request: PlacementRequest,
                   avoid: frozenset[str]) -> Decision:
    """Place ``request`` on a host not in ``avoid`` (where its start failed lately).

    The policy chooses among the other hosts (a placer of its own); the choice is
    then claimed on ``placer`` as a target host, so ``placer`` counts it as used."""
    note = f"avoiding host {', '.join(sorted(avoid))} after a failed start"
    target = request.target_host
    if target in avoid and not request.allow_elsewhere:
        return Decision(request, None, f"no host fits: the requested host {target} is "
                                       f"avoided for now ({note})")
    others = ClusterSnapshot(tuple(h for h in placer.hosts() if h.name not in avoid),
                             placer.facts)
    chosen = Placer(others, placer.policy).place(request)
    if chosen.host is None:
        return Decision(request, None, f"{chosen.reason}; {note}")
    claimed = placer.place(replace(request, target_host=chosen.host, allow_elsewhere=False))
    if claimed.host is None:
        return claimed
    return Decision(request, claimed.host, f"{chosen.reason}; {note}")


class Scheduler:
    def __init__(self, client: TashiClient,
                 policy: Policy | ExternalPolicy | str = DEFAULT_POLICY, *,
                 poll_wait_s: float = 20.0, retry_s: float = 1.0,
                 manager_url: str | None = None) -> None:
        """``retry_s``: the first wait after a failed snapshot (doubling up to
        RETRY_MAX_S); ``manager_url``: named in the logs and errors."""
        self._client = client
        self._policy = policy_named(policy) if isinstance(policy, str) else policy
        self._poll_wait_s = poll_wait_s
        self._retry_s = retry_s
        self._manager = f"the manager at {manager_url}" if manager_url else "the manager"

    async def run(self) -> None:
        """Schedule until cancelled; raises (Unauthenticated, Forbidden, or another
        refusal) when the manager refuses the scheduler's token or requests."""
        since: str | None = None
        delay = self._retry_s
        while True:
            try:
                snap = await self._client.snapshot(since, self._poll_wait_s)
            except TashiError as exc:
                if exc.is_refusal:
                    raise self._refusal(exc) from exc
                log.warning("scheduler: snapshot from %s failed (%s); retrying in %.0f s "
                            "(sooner if it answers again)", self._manager,
                            " ".join(exc.message.split()), delay)
                await pause_after(exc, self._client, delay)
                delay = min(delay * 2, RETRY_MAX_S)
                since = None
                continue
            delay = self._retry_s
            # Unplaceable instances stay Pending: any change that could make room
            # (a host up, an instance gone) bumps the revision and wakes us. Bindings
            # do not: after a refused one (another scheduler was first), look again now.
            refused = await self.schedule(snap)
            since = None if refused else snap.revision

    def _refusal(self, exc: TashiError) -> TashiError:
        """A refusal said for a person, of the same class (so the exit code stays)."""
        if isinstance(exc, Unauthenticated):
            return Unauthenticated(f"{self._manager} refused the scheduler's token "
                                   "(unknown, expired or revoked)")
        if isinstance(exc, Forbidden):
            return Forbidden(f"{self._manager} refused the scheduler's token: it is not an "
                             f"admin's ({exc.message})")
        return type(exc)(f"{self._manager} refused the scheduler's snapshot request: "
                         f"{exc.message}")

    async def schedule(self, snap: SnapshotOut) -> int:
        """Place every Pending instance of ``snap``; return how many bindings the
        manager refused (the instance or the host changed meanwhile)."""
        placer = Placer(cluster_of(snap), self._policy)
        bindings: list[BindingIn] = []
        unplaced: list[UnplacedIn] = []
        for p in snap.pending:
            decision = await self._place(placer, p)
            reason = decision.reason[:1000]
            if decision.host is not None:
                bindings.append(BindingIn(id=p.id, host=decision.host,
                                          generation=p.generation, reason=reason))
                continue
            log.info("instance %d (%s): pending: %s", p.id, p.name, decision.reason)
            if reason != p.message:  # keep the reason, once
                unplaced.append(UnplacedIn(id=p.id, reason=reason))
        names = {p.id: p.name for p in snap.pending}
        refused = 0
        for start in range(0, len(bindings), BATCH):
            refused += await self._bind(bindings[start:start + BATCH], names)
        for start in range(0, len(unplaced), BATCH):
            await self._note_unplaced(unplaced[start:start + BATCH])
        return refused

    async def _place(self, placer: Placer, p: PendingOut) -> Decision:
        request = request_of(p)
        avoid = frozenset(p.avoid_hosts)
        place: Callable[[], Decision] = (
            (lambda: place_avoiding(placer, request, avoid)) if avoid
            else (lambda: placer.place(request)))
        if placer.does_io:  # an external program: not on the event loop
            return await asyncio.to_thread(place)
        return place()

    async def _note_unplaced(self, notes: list[UnplacedIn]) -> None:
        try:
            await self._client.note_unplaced_many(notes)
        except TashiError as exc:  # the next look says it again
            log.warning("scheduler: %d reasons not kept: %s", len(notes), exc.message)

    async def _bind(self, batch: list[BindingIn], names: dict[int, str]) -> int:
        """Send ``batch``; return how many bindings were refused."""
        try:
            results = await self._client.bind_many(batch)
        except TashiError as exc:  # the next snapshot decides again
            log.warning("scheduler: %d bindings not sent: %s", len(batch), exc.message)
            return len(batch)
        refused = 0
        for b, r in zip(batch, results, strict=True):
            if r.result == "bound":
                log.info("instance %d (%s): bound to host %s (%s)", b.id, names[b.id],
                         b.host, b.reason)
            else:  # changed meanwhile, or the host filled up: the next look decides
                log.info("instance %d (%s): not bound to host %s: %s", b.id, names[b.id],
                         b.host, r.message)
                refused += 1
        return refused
