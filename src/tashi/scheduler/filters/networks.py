"""The host reaches every network the request needs (a host naming none reaches all)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class NetworkFilter(Filter):
    __slots__ = ()
    name = "networks"
    scope = Scope.POOL

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return not host.networks or request.networks <= host.networks

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        missing = Counter(", ".join(sorted(request.networks - h.networks)) for h in removed)
        return [(n, f"{n} lack network {names}") for names, n in missing.items()]
