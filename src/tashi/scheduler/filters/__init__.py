"""Host filters, one per module (Nova's layout): each says whether a host can take a
request, and why not in numbers. :data:`DEFAULT_FILTERS` is the order policies use:
cheap and decisive first, so explanations name the plainest reason."""

from __future__ import annotations

from tashi.scheduler.filters.anti_affinity import AntiAffinityFilter
from tashi.scheduler.filters.base import Filter, Part, Scope, pool_key
from tashi.scheduler.filters.capabilities import CapabilityFilter
from tashi.scheduler.filters.cores import CoreFilter
from tashi.scheduler.filters.disk import DiskFilter
from tashi.scheduler.filters.host_state import HostStateFilter
from tashi.scheduler.filters.host_up import HostUpFilter
from tashi.scheduler.filters.memory import MemoryFilter
from tashi.scheduler.filters.networks import NetworkFilter
from tashi.scheduler.filters.persistent_image import PersistentImageFilter
from tashi.scheduler.filters.reservation import ReservationFilter
from tashi.scheduler.filters.resources import ResourceFilter
from tashi.scheduler.filters.target_host import TargetHostFilter

__all__ = [
    "DEFAULT_FILTERS",
    "AntiAffinityFilter",
    "CapabilityFilter",
    "CoreFilter",
    "DiskFilter",
    "Filter",
    "HostStateFilter",
    "HostUpFilter",
    "MemoryFilter",
    "NetworkFilter",
    "Part",
    "PersistentImageFilter",
    "ReservationFilter",
    "ResourceFilter",
    "Scope",
    "TargetHostFilter",
    "pool_key",
]

DEFAULT_FILTERS: tuple[Filter, ...] = (
    TargetHostFilter(),
    HostUpFilter(),
    HostStateFilter(),
    ReservationFilter(),
    NetworkFilter(),
    CapabilityFilter(),
    PersistentImageFilter(),
    CoreFilter(),
    MemoryFilter(),
    DiskFilter(),
    AntiAffinityFilter(),
)
