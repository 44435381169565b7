"""Enough free scratch and overlay disk, when the request asks for some."""

from __future__ import annotations

from tashi.scheduler.filters.resources import ResourceFilter


class DiskFilter(ResourceFilter):
    __slots__ = ()
    name = "disk"
    resource = "disk_gib"
