"""/api/v1/usage: usage reports, the closed usage records summed per period (interval,
hour, day, month) and per instance, user or host (see :mod:`tashi.domain.usage_reports`).
Users read their own; admins anyone's. Paged: each answer's ``next``, passed back as
``after``, asks for the page after it; ``closed_until`` says up to when it is counted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_USER, Caller, Core
from tashi.api.schemas import ERROR_RESPONSES, HostName, InstanceName, UserName
from tashi.api.schemas.usage_reports import UsageReportOut
from tashi.domain.usage_reports import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT, Per, Period, UsageQuery

router = APIRouter(prefix="/usage", tags=["usage"], responses=ERROR_RESPONSES)


@router.get("", dependencies=[AS_USER])
async def usage_report(
    caller: Caller, core: Core, user: Annotated[UserName | None, Query()] = None,
    host: Annotated[HostName | None, Query()] = None,
    instance: Annotated[InstanceName | None, Query()] = None,
    start: Annotated[datetime | None, Query(alias="from", description=(
        "the first period's start (ISO 8601 with a zone), on a period boundary"))] = None,
    end: Annotated[datetime | None, Query(alias="to", description=(
        "periods starting before this (ISO 8601 with a zone), on a period boundary"))] = None,
    by: Annotated[Period | None, Query(description="null: each usage interval")] = None,
    per: Per = Per.INSTANCE,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR)] = None,
) -> UsageReportOut:
    """One page of the closed usage meeting every filter given (user, host, instance
    name), summed per period ``by`` and per ``per``, ordered by (start, key). A user
    naming another user is refused (403); naming none, sees their own."""
    query = UsageQuery(user=user, host=host, instance=instance, start=start, end=end,
                       by=by, per=per, limit=limit, after=after)
    return UsageReportOut.of(await run_in_threadpool(core.usage_reports.report, caller, query))
