"""What a listing of instances or hosts asks for: filters and a keyset page.

Filters narrow what the caller may see, never widen it: a user naming another
``owner`` is refused (see :meth:`tashi.manager.instances.InstanceService.list_visible`).
A page is ``limit`` records after the key ``after`` (an instance's id, a host's name)
of the last record of the page before; another page may follow when a page is full.
"""

from __future__ import annotations

from dataclasses import dataclass

from tashi.domain.states import HostState, InstanceState

MAX_PAGE = 5000  # records per page asked for


@dataclass(frozen=True, slots=True)
class InstanceQuery:
    """Instances meeting every condition given (None: not asked), by id."""

    owner: str | None = None
    host: str | None = None
    states: frozenset[InstanceState] | None = None
    name_prefix: str | None = None
    network: str | None = None
    after: int | None = None  # ids above it
    limit: int | None = None  # None: all


@dataclass(frozen=True, slots=True)
class HostQuery:
    """Hosts in one of ``states`` (None: any), by name."""

    states: frozenset[HostState] | None = None
    after: str | None = None  # names after it
    limit: int | None = None  # None: all


EVERY_INSTANCE = InstanceQuery()
EVERY_HOST = HostQuery()
