"""Only the host the request names, when it names one.

Whether another host may be taken when that one does not fit
(``allow_elsewhere``) is the placer's business: it then asks again without a target.
"""

from __future__ import annotations

from collections.abc import Sequence

from tashi.scheduler.filters.base import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


class TargetHostFilter(Filter):
    __slots__ = ()
    name = "target"

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return request.target_host is None or host.name == request.target_host

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        n = len(removed)
        return [(n, f"{n} not the requested host {request.target_host}")]
