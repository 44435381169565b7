"""Only hosts in state Normal take instances (not Drained, Evacuating, VersionMismatch)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tashi.domain.states import HostState
from tashi.scheduler.filters.base import Filter, Part, Scope
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest

_WORDS = {HostState.DRAINED: "drained", HostState.EVACUATING: "evacuating",
          HostState.VERSION_MISMATCH: "version mismatch"}


class HostStateFilter(Filter):
    __slots__ = ()
    name = "state"
    scope = Scope.POOL

    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        return host.state is HostState.NORMAL

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        by_state = Counter(h.state for h in removed)
        return [(n, f"{n} {_WORDS.get(state, str(state).lower())}")
                for state, n in by_state.items()]
