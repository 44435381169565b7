"""Only hosts whose agent is heard from (heartbeats) take instances."""

from __future__ import annotations

from tashi.scheduler.filters.base import Filter, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class HostUpFilter(Filter):
    __slots__ = ()
    name = "up"
    scope = Scope.POOL
    reason = "down"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return host.up
