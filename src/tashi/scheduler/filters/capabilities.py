"""The host's drivers offer what the request needs: its NIC models, network kinds and
driver abilities (:meth:`tashi.domain.needs.Needs.unmet_on`; a host that never reported
capabilities is judged by what Tashi's own drivers know, and has no optional ability)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class CapabilityFilter(Filter):
    __slots__ = ()
    name = "capabilities"
    scope = Scope.POOL

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return not request.needs.unmet_on(host.capabilities)

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        lacking = Counter(", ".join(request.needs.unmet_on(h.capabilities))
                          for h in removed)
        return [(n, f"{n} lack {what}") for what, n in lacking.items()]
