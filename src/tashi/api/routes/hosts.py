"""/api/v1/hosts: admin-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, Caller, Core
from tashi.api.convert import host_out
from tashi.api.listing import PAGED, Limit, States, paged, states_of
from tashi.api.schemas import (
    ERROR_RESPONSES,
    ClaimOut,
    HostCreate,
    HostCredentialOut,
    HostDetailOut,
    HostLayoutOut,
    HostName,
    HostOut,
    HostSlotsOut,
    HostStateIn,
    JoinTokenOut,
    LayoutInstanceOut,
    SlotsOut,
)
from tashi.domain.resources import (
    MAX_CORES,
    MAX_MEMORY_MIB,
    MIN_MEMORY_MIB,
    ZERO,
    Resources,
)
from tashi.domain.states import HostState
from tashi.identity.access import require_admin
from tashi.manager.hosts import HostView
from tashi.manager.listing import HostQuery

HOSTS_OUT = TypeAdapter(list[HostOut])  # a list dumped at once, not re-checked

router = APIRouter(prefix="/hosts", tags=["hosts"],
                   responses=ERROR_RESPONSES)


@router.get("", response_model=list[HostOut], responses=PAGED)
async def list_hosts(
    request: Request, caller: Caller, core: Core, state: States = None, limit: Limit = None,
    after: Annotated[HostName | None, Query(description="names after it (the last one's)")
                     ] = None,
) -> Response:
    """The hosts in any of ``state``, by name; a page of ``limit`` when asked (see
    :mod:`tashi.api.listing`: a full page says where the next one starts)."""
    require_admin(caller)
    query = HostQuery(states=states_of(state, HostState, "host"), after=after, limit=limit)
    views = await run_in_threadpool(core.hosts.views, query)
    body = await run_in_threadpool(lambda: HOSTS_OUT.dump_json([host_out(v) for v in views]))
    full = limit is not None and len(views) == limit
    return paged(request, body, views[-1].host.name if full else None)


@router.get("/{name}")
async def show_host(name: str, caller: Caller, core: Core) -> HostDetailOut:
    """The host, with the claims on it: which instance holds what, as what, since when."""
    require_admin(caller)
    view, claims = await run_in_threadpool(core.hosts.detail, name)
    return HostDetailOut(**host_out(view).model_dump(),
                         claims=[ClaimOut.of(c) for c in claims])


@router.post("", status_code=201, dependencies=[AS_ADMIN])
async def add_host(body: HostCreate, caller: Caller, core: Core) -> HostCredentialOut:
    """Pre-register a host; the answer holds its agent's credential (shown once)."""
    admin = require_admin(caller)
    host, token = await run_in_threadpool(core.hosts.register, body.name, f"user {admin.name}")
    return HostCredentialOut(host=host_out(HostView(host, False, ZERO, 0)), token=token)


@router.post("/{name}/credential", status_code=201)
async def reissue_credential(name: str, caller: Caller, core: Core) -> HostCredentialOut:
    """A new credential for the host's agent (shown once); every earlier one is revoked.
    For an agent that lost its credential, or one that may have leaked."""
    admin = require_admin(caller)
    token = await run_in_threadpool(core.hosts.reissue, name, f"user {admin.name}")
    return HostCredentialOut(host=await show_host(name, caller, core), token=token)


@router.patch("/{name}", dependencies=[AS_ADMIN])
async def set_host_state(name: str, body: HostStateIn, caller: Caller, core: Core) -> HostOut:
    """Drain a host (it takes no new instances; those it runs stay) or return it to
    Normal; reserve it for some users' instances (``reserved_for``; [] for anyone's)."""
    admin = require_admin(caller)
    if body.state is not None:
        await run_in_threadpool(core.hosts.set_state, name, body.state, f"user {admin.name}")
    if body.reserved_for is not None:
        await run_in_threadpool(core.hosts.reserve, name, body.reserved_for,
                                f"user {admin.name}")
    return await show_host(name, caller, core)


layout_router = APIRouter(tags=["hosts"], responses=ERROR_RESPONSES)


@layout_router.get("/slots")
async def slots(caller: Caller, core: Core,
                cores: Annotated[int, Query(ge=1, le=MAX_CORES)] = 1,
                memory_mib: Annotated[int, Query(ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB)] = 128,
                ) -> SlotsOut:
    """How many more of the caller's instances of a size fit, per host and in total.
    Any user may ask: a user's answer leaves out the hosts reserved for others."""
    per_host = await run_in_threadpool(core.scheduling.slots, caller,
                                       Resources(cores, memory_mib))
    return SlotsOut(cores=cores, memory_mib=memory_mib, total=sum(n for _, n, _ in per_host),
                    hosts=[HostSlotsOut(name=h, slots=n, why=w) for h, n, w in per_host])


@layout_router.get("/layout")
async def layout(caller: Caller, core: Core) -> list[HostLayoutOut]:
    """Per host: its instances, and used/total cores and memory."""
    require_admin(caller)
    return [HostLayoutOut(host=host_out(h.view), instances=[
        LayoutInstanceOut(id=i.id, name=i.name, owner=i.owner, state=i.state,
                          cores=i.spec.cores, memory_mib=i.spec.memory_mib)
        for i in h.instances]) for h in await run_in_threadpool(core.hosts.layout)]


@layout_router.get("/join-token")
async def join_token_state(caller: Caller, core: Core) -> JoinTokenOut:
    """Whether auto registration is on (the token itself is never shown again)."""
    require_admin(caller)
    return JoinTokenOut(enabled=await run_in_threadpool(
        lambda: core.hosts.join_tokens.enabled))


@layout_router.post("/join-token", status_code=201)
async def rotate_join_token(caller: Caller, core: Core) -> JoinTokenOut:
    """Make a new join token (turning auto registration on); the old one stops working."""
    admin = require_admin(caller)
    token = await run_in_threadpool(core.hosts.join_tokens.rotate, f"user {admin.name}")
    return JoinTokenOut(enabled=True, token=token)


@layout_router.delete("/join-token", status_code=204)
async def revoke_join_token(caller: Caller, core: Core) -> None:
    """Revoke the join token: auto registration is off until the next rotation."""
    admin = require_admin(caller)
    await run_in_threadpool(core.hosts.join_tokens.revoke, f"user {admin.name}")
