"""The filter contract.

A filter says whether one host can take one request (``passes``), and, when it
removed hosts, says why in numbers (``explain``). Filters are stateless and never
raise for a well-formed host and request.

``scope`` tells the placement index how much a filter's answer can vary, so it can
ask as rarely as possible and still get the answer asking every host would give:

- ``Scope.CLUSTER``: the same answer for every host (it reads only the request and
  the :class:`~tashi.scheduler.model.ClusterFacts`);
- ``Scope.POOL``: it reads only the host's fixed attributes ``up``, ``state``,
  ``reserved_for``, ``networks`` and ``capabilities`` — hosts equal in those get the
  same answer;
- ``Scope.HOST``: anything else (usage, groups, name) — asked of every candidate.
  The safe default for a new filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from enum import Enum

from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest

#: ``(hosts, text)``: one part of an explanation, e.g. ``(3, "3 lack memory")``.
Part = tuple[int, str]


class Scope(Enum):
    CLUSTER = "cluster"
    POOL = "pool"
    HOST = "host"


def pool_key(host: HostSnapshot) -> tuple[object, ...]:
    """The attributes a ``Scope.POOL`` filter may read."""
    return (host.up, host.state, host.reserved_for, host.networks, host.capabilities)


class Filter(ABC):
    """Base of the filters: override ``passes``; ``reason`` reads after a count."""

    __slots__ = ()
    name = "filter"
    scope = Scope.HOST
    reason = "refused"

    @abstractmethod
    def passes(self, host: HostSnapshot, request: PlacementRequest,
               facts: ClusterFacts) -> bool:
        """Each subclass answers this."""

    def explain(self, removed: Sequence[HostSnapshot],
                request: PlacementRequest) -> list[Part]:
        """Why ``removed`` (non-empty, all refused by this filter) were refused: parts
        whose text starts with their count, e.g. ``(3, "3 lack memory (...)")``."""
        return [(len(removed), f"{len(removed)} {self.reason}")]

    def why_not(self, host: HostSnapshot, request: PlacementRequest) -> str:
        """Why this filter refuses ``host`` alone, e.g. ``lack memory (...)``."""
        (_, text), *_ = self.explain([host], request)
        return text.removeprefix("1 ")
