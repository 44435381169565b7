"""Enough free scratch disk, when the request asks for some."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class DiskFilter(Filter):
    __slots__ = ()
    name = "disk"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        need = request.disk_gib
        return need <= 0 or host.disk_gib - host.used_disk_gib >= need

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        best = max(h.free_disk_gib for h in removed)
        n = len(removed)
        return [(n, f"{n} lack disk (need {request.disk_gib} GiB, best has {best})")]
