"""Spread: the host with the most free memory first, then the one with the fewest
instances — load evens out across the cluster."""

from __future__ import annotations

from tashi.scheduler.model import HostSnapshot
from tashi.scheduler.weighers.base import Weigher, Window


class SpreadWeigher(Weigher):
    __slots__ = ()
    name = "spread"

    def key(self, host: HostSnapshot) -> tuple[int, ...]:
        return (host.used.memory_mib - host.capacity.memory_mib, host.instances)

    def memory_window(self, need_mib: int) -> Window:
        return (None, (1 - need_mib,))  # -free <= -need
