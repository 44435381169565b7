"""Listing events: who may see which (users: their own instances'; admins: all)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tashi.domain.events import Event, EventKind
from tashi.domain.models import Principal
from tashi.identity.access import require_user
from tashi.manager.instances import InstanceService
from tashi.store.base import Store

MAX_EVENTS = 1000  # per answer


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What the caller asks for; every condition given must hold."""

    instance: str | None = None  # a name or an id (an id also finds a destroyed one's)
    host: str | None = None
    user: str | None = None
    kind: EventKind | None = None
    since: datetime | None = None
    after_id: int | None = None
    limit: int = 100


class EventService:
    def __init__(self, store: Store, instances: InstanceService) -> None:
        self._store = store
        self._instances = instances

    def list(self, principal: Principal, wanted: EventFilter) -> Sequence[Event]:
        """The newest ``wanted.limit`` events that ``principal`` may see, oldest first.
        A user sees only events about their own instances; asking for another user's
        gives none (not an error: events are not a way to learn who exists)."""
        user = require_user(principal)
        who = wanted.user if user.is_admin else user.name
        if not user.is_admin and wanted.user not in (None, user.name):
            return []
        instance_id = self._instance_id(principal, wanted.instance)
        return self._store.list_events(
            instance_id=instance_id, host=wanted.host, user=who, kind=wanted.kind,
            since=wanted.since, after_id=wanted.after_id,
            limit=max(1, min(wanted.limit, MAX_EVENTS)))

    def _instance_id(self, principal: Principal, ref: str | None) -> int | None:
        if ref is None:
            return None
        if ref.isascii() and ref.isdigit():
            return int(ref)  # a destroyed instance's events stay findable by its id
        return self._instances.get(principal, ref).id
