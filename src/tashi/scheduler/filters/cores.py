"""Enough free cores for the request."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class CoreFilter(Filter):
    __slots__ = ()
    name = "cores"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return host.capacity.cores - host.used.cores >= request.resources.cores

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        best = max(h.free.cores for h in removed)
        n = len(removed)
        return [(n, f"{n} lack cores (need {request.resources.cores}, best has {best})")]
