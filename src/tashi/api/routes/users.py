"""/api/v1: whoami, users (admins), passwords, login, and API tokens.

``POST /login`` is the one route here without a bearer token: it trades a user's
password for a new API token, and failed attempts are rate limited per user and per
client address (429). Tokens are shown once, when made; lists show their names and
dates, never the tokens or their hashes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, AS_USER, AdminCaller, Caller, UserCaller, core_of
from tashi.api.convert import user_out
from tashi.api.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    LoginIn,
    PasswordIn,
    TokenCreate,
    TokenCreatedOut,
    TokenOut,
    TokenSettings,
    UserCreate,
    UserCredentialOut,
    UserOut,
    WhoAmIOut,
)
from tashi.identity.access import require_admin, require_user
from tashi.identity.users import NewToken, UserService
from tashi.store.base import TokenRecord

router = APIRouter(tags=["users"],
                   responses=ERROR_RESPONSES)


async def users_of(request: Request) -> UserService:
    """The manager's one user service (its login limiter outlives requests)."""
    return core_of(request).users


Users = Annotated[UserService, Depends(users_of)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID)]


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/whoami")
async def whoami(caller: Caller) -> WhoAmIOut:
    if caller.user is not None:
        return WhoAmIOut(kind="user", name=caller.user.name, role=caller.user.role)
    return WhoAmIOut(kind="agent", name=str(caller.host), role=None)


@router.get("/users")
async def list_users(caller: Caller, users: Users) -> list[UserOut]:
    admin = require_admin(caller)
    return [user_out(u) for u in await run_in_threadpool(users.list_users, admin)]


@router.post("/users", status_code=201, dependencies=[AS_ADMIN])
async def add_user(body: UserCreate, caller: Caller, users: Users) -> UserCredentialOut:
    """Create a user (with a password if given) and a first API token (shown once)."""
    admin = require_admin(caller)
    password = None if body.password is None else body.password.get_secret_value()
    user, minted = await run_in_threadpool(users.create, body.name, body.role, password,
                                           admin.name, body.source)
    return UserCredentialOut(user=user_out(user), token=minted.token)


@router.delete("/users/{name}", status_code=204)
async def delete_user(name: str, caller: Caller, users: Users) -> None:
    """Delete a user and its tokens: not the last admin, nor one who owns instances."""
    admin = require_admin(caller)
    await run_in_threadpool(users.delete, name, admin.name)


@router.put("/users/{name}/password", status_code=204, dependencies=[AS_USER])
async def set_password(name: str, body: PasswordIn, caller: Caller, users: Users,
                       request: Request) -> None:
    """An admin sets anyone's password; a user changes its own with the current one."""
    user = require_user(caller)
    current = (None if body.current_password is None
               else body.current_password.get_secret_value())
    await run_in_threadpool(lambda: users.set_password(
        user, name, body.password.get_secret_value(), current=current,
        address=address_of(request)))


@router.post("/login", status_code=201)
async def login(body: LoginIn, users: Users, request: Request) -> TokenCreatedOut:
    """Trade a user's password for a new API token (shown once). No bearer token needed."""
    minted = await run_in_threadpool(lambda: users.login(
        body.user, body.password.get_secret_value(), address=address_of(request),
        token_name=body.token_name, expires_in_s=body.expires_in_s))
    return created_out(minted)


@router.get("/tokens")
async def list_tokens(caller: Caller, users: Users, user: str | None = None) -> list[TokenOut]:
    """Your tokens (an admin may ask for another ``user``'s)."""
    me = require_user(caller)
    return [token_out(t) for t in await run_in_threadpool(users.list_tokens, me, user)]


@router.post("/tokens", status_code=201, dependencies=[AS_USER])
async def create_token(body: TokenCreate, caller: Caller, users: Users) -> TokenCreatedOut:
    """A new API token of yours (shown once), made with the token you call with: it
    expires when that one does at the latest (a later or no expiry is clamped to it;
    see ``expires_at``), and is refused (403) while tokens come from password logins
    only (``PUT /settings/tokens``)."""
    minted = await run_in_threadpool(users.create_token_with_token, caller, body.name,
                                     body.expires_in_s)
    return created_out(minted)


@router.get("/settings/tokens")
async def token_settings(caller: UserCaller, users: Users) -> TokenSettings:
    """How tokens may be made on this cluster."""
    on = await run_in_threadpool(lambda: users.policy.password_login_only)
    return TokenSettings(password_login_only=on)


@router.put("/settings/tokens", dependencies=[AS_ADMIN])
async def set_token_settings(body: TokenSettings, caller: AdminCaller,
                             users: Users) -> TokenSettings:
    """Admins: restrict token creation to password logins (``POST /login``), or not."""
    await run_in_threadpool(users.policy.set_password_login_only, caller,
                            body.password_login_only)
    return body


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: TokenId, caller: Caller, users: Users) -> TokenOut:
    """Revoke one of your tokens (an admin: anyone's); it stops working at once."""
    me = require_user(caller)
    return token_out(await run_in_threadpool(users.revoke_token, me, token_id))


def token_out(t: TokenRecord) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, user=t.user, created_at=t.created_at,
                    expires_at=t.expires_at)


def created_out(minted: NewToken) -> TokenCreatedOut:
    return TokenCreatedOut(**token_out(minted.record).model_dump(), token=minted.token)
