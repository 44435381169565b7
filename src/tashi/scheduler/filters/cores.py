"""Enough free cores for the request."""

from __future__ import annotations

from tashi.scheduler.filters.resources import ResourceFilter


class CoreFilter(ResourceFilter):
    __slots__ = ()
    name = "cores"
    resource = "cores"
