"""Whether one instance fits on one host: the one rule.

The scheduler's placement runs these filters over every host (with the policy's
weighers to choose); the store runs :func:`refusal` on the chosen host inside the
transaction that binds (so concurrent schedulers never overcommit); ``tashi slots`` and
``tashi plan capacity`` place sizes with the same filters (:mod:`tashi.scheduler.capacity`).
A rule is written once, as a filter in :mod:`tashi.scheduler.filters`.
"""

from __future__ import annotations

from collections.abc import Sequence

from tashi.domain.resources import CLASSES, WORDS
from tashi.scheduler.filters import (
    AntiAffinityFilter,
    CapabilityFilter,
    CoreFilter,
    DiskFilter,
    Filter,
    HostStateFilter,
    HostUpFilter,
    MemoryFilter,
    NetworkFilter,
    ReservationFilter,
    ResourceFilter,
)
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest

#: What binding re-checks on the chosen host, inside the store's transaction: all that
#: depends on the host and on what is bound to it. Liveness, the target host and the
#: cluster-wide facts are the scheduler's to judge, from its snapshot.
BINDING_FILTERS: tuple[Filter, ...] = (
    HostStateFilter(), ReservationFilter(), NetworkFilter(), CapabilityFilter(), CoreFilter(),
    MemoryFilter(), DiskFilter(), AntiAffinityFilter(),
)
NO_FACTS = ClusterFacts()


def refusal(host: HostSnapshot, request: PlacementRequest, *,
            filters: Sequence[Filter] = BINDING_FILTERS,
            facts: ClusterFacts = NO_FACTS) -> str | None:
    """Why ``host`` cannot take ``request`` now, in words (None: it can): the words of
    the first filter refusing it (run in the placer's order)."""
    for f in filters:
        if not f.passes(host, request, facts):
            return f.why_not(host, request)
    return None


#: What decides how many more of a size a host takes (``tashi slots``).
SLOT_FILTERS: tuple[Filter, ...] = (HostUpFilter(), *BINDING_FILTERS)


def how_many(host: HostSnapshot, request: PlacementRequest, *,
             filters: Sequence[Filter] = SLOT_FILTERS) -> tuple[int, str]:
    """How many more of ``request`` fit on ``host``, and what limits it: the resource
    that runs out first (``cores``, ``memory``, ``disk``) or the first filter refusing
    it for another reason (its words, e.g. ``drained``)."""
    for f in filters:
        if not isinstance(f, ResourceFilter) and not f.passes(host, request, NO_FACTS):
            return 0, f.why_not(host, request)
    need, free = request.resources, host.free
    counts = [(max(0, free.amount(c)) // need.amount(c), i, c)
              for i, c in enumerate(CLASSES) if need.amount(c) > 0]
    if not counts:
        return 0, "nothing asked"
    n, _, limiting = min(counts)
    return n, WORDS[limiting]
