"""Enough free room of one resource class for the request (the host's capacity vector
less what its instances claim): the base of the cores, memory and disk filters."""

from __future__ import annotations

from collections.abc import Sequence

from tashi.domain.resources import UNITS, WORDS
from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class ResourceFilter(Filter):
    """Refuses hosts with less free ``resource`` than the request asks (asking none of
    it passes everywhere)."""

    __slots__ = ()
    resource = "cores"  # a class of tashi.domain.resources.CLASSES

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        need = request.resources.amount(self.resource)
        return need <= 0 or host.free.amount(self.resource) >= need

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        best = max(h.free.amount(self.resource) for h in removed)
        n, need = len(removed), request.resources.amount(self.resource)
        unit = "" if self.resource == "cores" else f" {UNITS[self.resource]}"
        return [(n, f"{n} lack {WORDS[self.resource]} (need {need}{unit}, best has {best})")]
