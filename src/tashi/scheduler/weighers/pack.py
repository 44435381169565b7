"""Pack: the most used host first (least free memory, then the most instances) —
fills hosts one after another and keeps whole hosts free for big instances."""

from __future__ import annotations

from tashi.scheduler.model import HostSnapshot
from tashi.scheduler.weighers.base import Weigher, Window


class PackWeigher(Weigher):
    __slots__ = ()
    name = "pack"

    def key(self, host: HostSnapshot) -> tuple[int, ...]:
        return (host.capacity.memory_mib - host.used.memory_mib, -host.instances)

    def memory_window(self, need_mib: int) -> Window:
        return ((need_mib,), None)  # free >= need
