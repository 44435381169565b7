"""/api/v1/quotas: per-user limits (see :mod:`tashi.domain.quotas`). Users read their
own (with what they use); admins read and change anyone's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, AS_USER, Caller, Core
from tashi.api.schemas import ERROR_RESPONSES, QuotaIn, QuotaOut, UserName

router = APIRouter(prefix="/quotas", tags=["quotas"], responses=ERROR_RESPONSES)
User = Annotated[UserName, Path()]


@router.get("", dependencies=[AS_ADMIN])
async def list_quotas(caller: Caller, core: Core) -> list[QuotaOut]:
    """Admins: every user with at least one limit, with what each uses."""
    return [QuotaOut.of(q) for q in await run_in_threadpool(core.quotas.list, caller)]


@router.get("/{user}", dependencies=[AS_USER])
async def show_quota(user: User, caller: Caller, core: Core) -> QuotaOut:
    """The user's limits (null: none) and use; a user may read only its own."""
    return QuotaOut.of(await run_in_threadpool(core.quotas.show, caller, user))


@router.put("/{user}", dependencies=[AS_ADMIN])
async def set_quota(user: User, body: QuotaIn, caller: Caller, core: Core) -> QuotaOut:
    """Admins: set the limits the body names (null: no limit); the others are kept.
    Creates and resumes past a limit are then refused with 403, naming it."""
    return QuotaOut.of(await run_in_threadpool(core.quotas.set, caller, user, body.changes()))


@router.delete("/{user}", dependencies=[AS_ADMIN])
async def delete_quota(user: User, caller: Caller, core: Core) -> QuotaOut:
    """Admins: remove every limit of the user."""
    return QuotaOut.of(await run_in_threadpool(core.quotas.delete, caller, user))
