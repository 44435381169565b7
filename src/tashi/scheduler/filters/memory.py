"""Enough free memory for the request."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class MemoryFilter(Filter):
    __slots__ = ()
    name = "memory"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return host.capacity.memory_mib - host.used.memory_mib >= request.resources.memory_mib

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        best = max(h.free.memory_mib for h in removed)
        n = len(removed)
        need = request.resources.memory_mib
        return [(n, f"{n} lack memory (need {need} MiB, best has {best})")]
