"""A policy: an ordered chain of filters and the weighers that order what passes.

Policies are chosen by name from one registry (:data:`POLICIES`): ``spread`` (the
default) and ``pack``. An operator's own program can decide instead, see
:mod:`tashi.scheduler.external`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tashi.domain.errors import InvalidInput
from tashi.scheduler.filters import DEFAULT_FILTERS, CoreFilter, Filter, MemoryFilter, Scope
from tashi.scheduler.model import HostSnapshot
from tashi.scheduler.weighers import PackWeigher, SpreadWeigher, Weigher, Window

DEFAULT_POLICY = "spread"


@dataclass(frozen=True, slots=True)
class Policy:
    """``filters`` run in order (the first to refuse a host is the one counted);
    ``weighers`` order the survivors lexicographically, smaller key first."""

    name: str
    filters: tuple[Filter, ...]
    weighers: tuple[Weigher, ...]
    #: the filters asked once per pool of alike hosts, and those asked per host
    pool_filters: tuple[Filter, ...] = field(init=False, repr=False, compare=False)
    host_filters: tuple[Filter, ...] = field(init=False, repr=False, compare=False)
    #: whether hosts lacking memory (a free core) can be skipped unasked
    filters_memory: bool = field(init=False, repr=False, compare=False)
    needs_a_core: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.weighers:
            raise ValueError(f"policy {self.name}: needs at least one weigher")
        per_pool = tuple(f for f in self.filters if f.scope is not Scope.HOST)
        object.__setattr__(self, "pool_filters", per_pool)
        object.__setattr__(self, "host_filters",
                           tuple(f for f in self.filters if f.scope is Scope.HOST))
        object.__setattr__(self, "filters_memory",
                           any(isinstance(f, MemoryFilter) for f in self.filters))
        object.__setattr__(self, "needs_a_core",
                           any(isinstance(f, CoreFilter) for f in self.filters))

    def __str__(self) -> str:
        return self.name

    def key(self, host: HostSnapshot) -> tuple[int, ...]:
        if len(self.weighers) == 1:
            return self.weighers[0].key(host)
        return tuple(k for w in self.weighers for k in w.key(host))

    def memory_window(self, need_mib: int) -> Window:
        """Where in key order hosts with ``need_mib`` free can be (see the weighers)."""
        if self.filters_memory:
            return self.weighers[0].memory_window(need_mib)
        return (None, None)


POLICIES: dict[str, Callable[[], Policy]] = {
    "spread": lambda: Policy("spread", DEFAULT_FILTERS, (SpreadWeigher(),)),
    "pack": lambda: Policy("pack", DEFAULT_FILTERS, (PackWeigher(),)),
}


def policy_named(name: str) -> Policy:
    """The registered policy ``name``; :class:`InvalidInput` naming the choices otherwise."""
    make = POLICIES.get(name)
    if make is None:
        raise InvalidInput(f"no placement policy {name!r}; choose one of "
                           f"{', '.join(sorted(POLICIES))}")
    return make()
