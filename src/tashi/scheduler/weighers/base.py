"""The weigher contract.

A weigher orders the hosts that passed the filters: ``key(host)`` is a tuple of
integers, *smaller is better*, computed from the host alone (so the placement index
can keep hosts sorted by it and re-sort only the host that changed).

``memory_window(need_mib)`` may narrow the search: it returns key prefixes
``(low, high)`` such that every host with at least ``need_mib`` free has
``low <= key < high`` (``None``: unbounded). Policies use it only when they filter
on memory. The default is unbounded, always right.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from tashi.scheduler.model import HostSnapshot

#: ``(low, high)`` key prefixes; ``None`` is unbounded.
Window = tuple[tuple[int, ...] | None, tuple[int, ...] | None]


class Weigher(ABC):
    __slots__ = ()
    name = "weigher"

    @abstractmethod
    def key(self, host: HostSnapshot) -> tuple[int, ...]:
        """Each subclass answers this."""

    def memory_window(self, need_mib: int) -> Window:
        return (None, None)
