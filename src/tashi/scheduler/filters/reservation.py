"""A host reserved for some users takes only their instances."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class ReservationFilter(Filter):
    __slots__ = ()
    name = "reservation"
    scope = Scope.POOL

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return not host.reserved_for or request.owner in host.reserved_for

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        by_users = Counter(", ".join(sorted(h.reserved_for)) for h in removed)
        return [(n, f"{n} reserved for {users}") for users, n in by_users.items()]
