"""The primitive policy, pure: a function of a cluster snapshot and a request.

Filters drop hosts that cannot take the instance (and count why); the weigher
orders the rest: *spread* (most free memory, then fewest instances — the
default) or *pack* (least free first). Ties go round-robin, so equal hosts share
the load. Nothing here does I/O; the scheduler service feeds it snapshots.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from tashi.domain.resources import Resources
from tashi.domain.states import HostState


class Policy(StrEnum):
    SPREAD = "spread"
    PACK = "pack"


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    name: str
    up: bool
    state: HostState
    capacity: Resources
    used: Resources
    instances: int

    @property
    def free(self) -> Resources:
        return self.capacity - self.used


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    instance_id: int
    name: str
    resources: Resources


@dataclass(frozen=True, slots=True)
class Decision:
    request: PlacementRequest
    host: str | None
    reason: str  # why this host, or why none


def _rejection(host: HostSnapshot, need: Resources) -> str | None:
    if not host.up:
        return "down"
    if host.state is not HostState.NORMAL:
        return host.state.lower()
    if host.free.cores < need.cores:
        return "lack cores"
    if host.free.memory_mib < need.memory_mib:
        return "lack memory"
    return None


def _explain(hosts: list[HostSnapshot], need: Resources, why: Counter[str]) -> str:
    if not hosts:
        return "no host fits: no hosts are registered"
    usable = [h for h in hosts if h.up and h.state is HostState.NORMAL] or hosts
    parts = []
    for reason, n in why.most_common():
        detail = ""
        if reason == "lack memory":
            best = max(h.free.memory_mib for h in usable)
            detail = f" (need {need.memory_mib} MiB, best has {best})"
        elif reason == "lack cores":
            best = max(h.free.cores for h in usable)
            detail = f" (need {need.cores}, best has {best})"
        parts.append(f"{n} {reason}{detail}")
    return "no host fits: " + ", ".join(parts)


class Placer:
    """Places requests one after another on a snapshot it keeps up to date."""

    def __init__(self, hosts: Iterable[HostSnapshot], policy: Policy = Policy.SPREAD) -> None:
        self._hosts = {h.name: h for h in hosts}
        self._policy = policy
        self._turn = itertools.count()

    def place(self, request: PlacementRequest) -> Decision:
        why: Counter[str] = Counter()
        fit: list[HostSnapshot] = []
        for host in self._hosts.values():
            rejected = _rejection(host, request.resources)
            if rejected:
                why[rejected] += 1
            else:
                fit.append(host)
        if not fit:
            hosts = list(self._hosts.values())
            return Decision(request, None, _explain(hosts, request.resources, why))
        chosen = self._weigh(fit)
        self._hosts[chosen.name] = replace(chosen, used=chosen.used + request.resources,
                                           instances=chosen.instances + 1)
        return Decision(request, chosen.name,
                        f"{self._policy} policy: {len(fit)} of {len(self._hosts)} hosts fit")

    def _weigh(self, fit: list[HostSnapshot]) -> HostSnapshot:
        sign = 1 if self._policy is Policy.SPREAD else -1

        def key(h: HostSnapshot) -> tuple[int, int]:
            return (sign * h.free.memory_mib, -sign * h.instances)

        best = max(key(h) for h in fit)
        tied = sorted((h for h in fit if key(h) == best), key=lambda h: h.name)
        return tied[next(self._turn) % len(tied)]
