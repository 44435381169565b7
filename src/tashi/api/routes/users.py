"""/api/v1/users and /api/v1/whoami."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import user_out
from tashi.api.schemas import ERROR_RESPONSES, UserCreate, UserCredentialOut, UserOut, WhoAmIOut
from tashi.common.secrets import hash_token, new_token
from tashi.domain.names import check_name
from tashi.manager.access import require_admin

router = APIRouter(tags=["users"],
                   responses=ERROR_RESPONSES)


@router.get("/whoami")
async def whoami(caller: Caller) -> WhoAmIOut:
    if caller.user is not None:
        return WhoAmIOut(kind="user", name=caller.user.name, role=caller.user.role)
    return WhoAmIOut(kind="agent", name=str(caller.host), role=None)


@router.get("/users")
async def list_users(caller: Caller, core: Core) -> list[UserOut]:
    require_admin(caller)
    return [user_out(u) for u in await run_in_threadpool(core.store.list_users)]


@router.post("/users", status_code=201)
async def add_user(body: UserCreate, caller: Caller, core: Core) -> UserCredentialOut:
    """Create a user with a first API token (shown once)."""
    require_admin(caller)
    user = await run_in_threadpool(core.store.create_user, check_name("user", body.name),
                                   body.role)
    token = new_token()
    await run_in_threadpool(lambda: core.store.add_token(hash_token(token), "initial",
                                                         user=user.name))
    return UserCredentialOut(user=user_out(user), token=token)
