"""The placement index: answers "which host would the policy pick?" without asking
every filter about every host.

Hosts are split into *pools* of alike hosts (equal ``up``, ``state``,
``reserved_for`` and ``networks``), so the filters of ``Scope.CLUSTER`` and
``Scope.POOL`` are asked once per pool. Each pool keeps its hosts sorted by the
policy's key, then by a round-robin sequence number (the least recently chosen
first, so equal hosts take turns). A request bisects to the part of each pool
where hosts can have enough free memory (the weigher's window) and walks it in key
order, asking the ``Scope.HOST`` filters, until a host passes or no later host could
beat the best found so far. Hosts without a free core leave their pool (no request
asking for a core can use them). Only the chosen host changes per placement: it is
taken out and put back in its new place (a bisect and a memmove).

So a placement costs O(pools x log hosts) plus the hosts walked past, which is few
unless many hosts near the top of the order refuse for a ``Scope.HOST`` reason. The
answer is exactly the exhaustive one (:meth:`HostIndex.best_exhaustive`, the
reference the tests compare it with).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Sequence

from tashi.scheduler.explain import run_filters
from tashi.scheduler.filters import Filter, pool_key
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest
from tashi.scheduler.policy import Policy

#: ``(*policy key, round-robin sequence, host name)``; smaller is better.
Entry = tuple[int | str, ...]


def passes_all(filters: Sequence[Filter], host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
    for f in filters:  # noqa: SIM110 (a loop: twice as fast as all() on a generator)
        if not f.passes(host, request, facts):
            return False
    return True


class _Pool:
    """Alike hosts, sorted by entry. Mutable on purpose: private to the index."""

    __slots__ = ("entries", "representative")

    def __init__(self, representative: HostSnapshot) -> None:
        self.representative = representative
        self.entries: list[Entry] = []


class HostIndex:
    """The hosts of one placer, kept up to date and ordered for ``policy``."""

    def __init__(self, hosts: Iterable[HostSnapshot], policy: Policy) -> None:
        self._policy = policy
        ordered = sorted(hosts, key=lambda h: h.name)
        self.hosts: dict[str, HostSnapshot] = {}
        self._seq: dict[str, int] = {}
        self._entry: dict[str, Entry | None] = {}
        self._pool_of: dict[str, _Pool] = {}
        self._pools: dict[tuple[object, ...], _Pool] = {}
        self._turn = 0
        for i, host in enumerate(ordered):  # never chosen yet: by name, before the others
            if host.name in self.hosts:
                raise ValueError(f"host {host.name} appears twice in the snapshot")
            key = pool_key(host)
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = _Pool(host)
            self._pool_of[host.name] = pool
            self._seq[host.name] = i - len(ordered)
            entry = self._put(host)
            if entry is not None:
                pool.entries.append(entry)
        for pool in self._pools.values():
            pool.entries.sort()

    def entry(self, host: HostSnapshot) -> Entry:
        return (*self._policy.key(host), self._seq[host.name], host.name)

    def can_answer(self, request: PlacementRequest) -> bool:
        """False for requests asking no core: hosts without one left their pools."""
        return request.resources.cores >= 1 or not self._policy.needs_a_core

    def best(self, request: PlacementRequest, facts: ClusterFacts) -> HostSnapshot | None:
        """The host the policy picks for ``request`` (see :meth:`can_answer`)."""
        low, high = self._policy.memory_window(request.resources.memory_mib)
        pool_filters = self._policy.pool_filters
        best: Entry | None = None
        for pool in self._pools.values():
            if pool.entries and passes_all(pool_filters, pool.representative, request, facts):
                found = self._walk(pool.entries, request, facts, low, high, best)
                if found is not None:
                    best = found
        return None if best is None else self.hosts[str(best[-1])]

    def _walk(self, entries: list[Entry], request: PlacementRequest, facts: ClusterFacts,
              low: Entry | None, high: Entry | None, bound: Entry | None) -> Entry | None:
        start = 0 if low is None else bisect_left(entries, low)
        stop = len(entries) if high is None else bisect_left(entries, high)
        hosts, host_filters = self.hosts, self._policy.host_filters
        for i in range(start, stop):
            entry = entries[i]
            if bound is not None and entry >= bound:
                return None
            if passes_all(host_filters, hosts[str(entry[-1])], request, facts):
                return entry
        return None

    def best_exhaustive(self, request: PlacementRequest,
                        facts: ClusterFacts) -> HostSnapshot | None:
        """The same answer as :meth:`best`, by asking every filter about every host."""
        run = run_filters(self._policy.filters, self.hosts.values(), request, facts)
        return min(run.passed, key=self.entry, default=None)

    def update(self, host: HostSnapshot) -> None:
        """Replace a host by its new snapshot; it becomes the most recently chosen."""
        old = self._entry[host.name]
        if old is not None:
            entries = self._pool_of[host.name].entries
            del entries[bisect_left(entries, old)]
        self._seq[host.name] = self._turn
        self._turn += 1
        entry = self._put(host)
        if entry is not None:
            insort(self._pool_of[host.name].entries, entry)

    def _put(self, host: HostSnapshot) -> Entry | None:
        """Record ``host``; its entry, or None when it has no core left to give."""
        self.hosts[host.name] = host
        full = self._policy.needs_a_core and host.capacity.cores - host.used.cores < 1
        entry = None if full else self.entry(host)
        self._entry[host.name] = entry
        return entry
