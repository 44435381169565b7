"""Members of an anti-affinity group run on distinct hosts."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class AntiAffinityFilter(Filter):
    __slots__ = ()
    name = "anti-affinity"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return not request.anti_affinity or request.group not in host.groups

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        n = len(removed)
        return [(n, f"{n} already hold a member of group {request.group}")]
