"""Bearer-token authentication: every API call but the agent's join names its caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tashi.domain.models import Principal
from tashi.identity.access import no_principal
from tashi.manager.core import ManagerCore

_bearer = HTTPBearer(auto_error=False, description="an API token or an agent credential")


def core_of(request: Request) -> ManagerCore:
    core: ManagerCore = request.app.state.core
    return core


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None or not creds.credentials:
        raise no_principal()
    core = core_of(request)
    found = await run_in_threadpool(core.users.principal_for, creds.credentials)
    if found is None:
        raise no_principal()
    return found


Caller = Annotated[Principal, Depends(principal)]
Core = Annotated[ManagerCore, Depends(core_of)]
