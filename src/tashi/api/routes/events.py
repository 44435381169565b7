"""/api/v1/events: the structured audit trail, filtered (users: their own instances')."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import event_out
from tashi.api.schemas import ERROR_RESPONSES, MAX_ID, EventOut
from tashi.domain.events import EventKind
from tashi.manager.events import MAX_EVENTS, EventFilter

router = APIRouter(prefix="/events", tags=["events"], responses=ERROR_RESPONSES)


@router.get("")
async def list_events(
    caller: Caller, core: Core,
    instance: Annotated[str | None, Query(max_length=127)] = None,
    host: Annotated[str | None, Query(max_length=127)] = None,
    user: Annotated[str | None, Query(max_length=127)] = None,
    kind: EventKind | None = None,
    since: datetime | None = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 100,
) -> list[EventOut]:
    """The newest events meeting every filter given, oldest first (``after``: newer than
    that event id, for following)."""
    wanted = EventFilter(instance=instance, host=host, user=user, kind=kind, since=since,
                         after_id=after, limit=limit)
    events = await run_in_threadpool(core.events.list, caller, wanted)
    return [event_out(e) for e in events]
