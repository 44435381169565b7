"""Enough free memory for the request."""

from __future__ import annotations

from tashi.scheduler.filters.resources import ResourceFilter


class MemoryFilter(ResourceFilter):
    __slots__ = ()
    name = "memory"
    resource = "memory_mib"
