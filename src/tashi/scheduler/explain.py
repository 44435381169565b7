"""Run a filter chain over every host and say, in numbers, what each filter removed.

This is the slow, exhaustive path: the placer uses it to explain a refusal, to log
the counts at DEBUG, and as the reference its index is tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tashi.scheduler.filters import Filter, Part
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest


@dataclass(frozen=True, slots=True)
class FilterRun:
    """The hosts that passed, and per filter (in chain order) the hosts it removed."""

    passed: tuple[HostSnapshot, ...]
    removed: tuple[tuple[Filter, tuple[HostSnapshot, ...]], ...]

    def counts(self) -> str:
        """``up -1, memory -3``: what each filter that removed hosts removed."""
        return ", ".join(f"{f.name} -{len(hosts)}" for f, hosts in self.removed if hosts)


def run_filters(filters: Sequence[Filter], hosts: Iterable[HostSnapshot],
                request: PlacementRequest, facts: ClusterFacts) -> FilterRun:
    """Each host is counted against the first filter that refuses it."""
    removed: dict[int, list[HostSnapshot]] = {i: [] for i in range(len(filters))}
    passed: list[HostSnapshot] = []
    for host in hosts:
        for i, f in enumerate(filters):
            if not f.passes(host, request, facts):
                removed[i].append(host)
                break
        else:
            passed.append(host)
    return FilterRun(tuple(passed), tuple((f, tuple(removed[i]))
                                          for i, f in enumerate(filters)))


def explain(run: FilterRun, request: PlacementRequest) -> str:
    """``no host fits: 3 lack memory (need 2048 MiB, best has 1536), 1 drained``.

    Parts come most hosts first; equal counts keep the chain's order."""
    parts: list[Part] = []
    for f, hosts in run.removed:
        if hosts:
            parts.extend(f.explain(hosts, request))
    if not parts and not run.passed:
        return "no host fits: no hosts are registered"
    parts.sort(key=lambda part: -part[0])
    return "no host fits: " + ", ".join(text for _, text in parts)
