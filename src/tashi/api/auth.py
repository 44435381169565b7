"""Bearer-token authentication: every API call but the agent's join names its caller.

Permission comes before the body: routes take their caller as one of the dependencies
below (:data:`Caller`, :data:`UserCaller`, :data:`AdminCaller`, :data:`HostAgent`),
which FastAPI runs before it validates the body, so a caller without the right gets
401 or 403, never 422, whatever it sent. A body that is not JSON at all is parsed
before any dependency runs; :func:`check_first` runs the route's checks then (the
error handler calls it), so that case too answers 401/403 first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tashi.domain.models import Principal, User
from tashi.identity.access import (
    no_principal,
    require_admin,
    require_host_agent,
    require_user,
)
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
    request.state.principal = found  # for the error handler: what it may show
    return found


Caller = Annotated[Principal, Depends(principal)]
Core = Annotated[ManagerCore, Depends(core_of)]


async def user_caller(caller: Caller) -> User:
    """The calling user (403 for a host's agent)."""
    return require_user(caller)


async def admin_caller(caller: Caller) -> User:
    """The calling admin (403 for anyone else)."""
    return require_admin(caller)


async def host_agent(host: str, caller: Caller) -> Principal:
    """The agent of the path's ``host``, or an admin (403 for anyone else)."""
    require_host_agent(caller, host)
    return caller


UserCaller = Annotated[User, Depends(user_caller)]
AdminCaller = Annotated[User, Depends(admin_caller)]
HostAgent = Annotated[Principal, Depends(host_agent)]

#: Each check above, as run by :func:`check_first` on the caller and the request.
_CHECKS: dict[Callable[..., Any], Callable[[Principal, Request], object]] = {
    user_caller: lambda p, _: require_user(p),
    admin_caller: lambda p, _: require_admin(p),
    host_agent: lambda p, r: require_host_agent(p, str(r.path_params.get("host", ""))),
}


async def check_first(request: Request) -> None:
    """Run the caller checks of the request's route (raising 401/403 as they would),
    for a request refused before they ran (its body is not even JSON)."""
    route: Any = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    calls = set(_calls(dependant))
    if principal not in calls:
        return  # a route without a caller (login, join): the body's error it is
    found = await principal(request, await _bearer(request))
    for call, check in _CHECKS.items():
        if call in calls:
            check(found, request)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _calls(dep)


#: For a route's ``dependencies=[...]``: the check runs before the body is read.
AS_USER = Depends(user_caller)
AS_ADMIN = Depends(admin_caller)
AS_HOST_AGENT = Depends(host_agent)
