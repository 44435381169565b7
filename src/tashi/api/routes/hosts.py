"""/api/v1/hosts: admin-only."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import host_out
from tashi.api.schemas import ERROR_RESPONSES, HostCreate, HostCredentialOut, HostOut
from tashi.domain.errors import NotFound
from tashi.domain.resources import ZERO
from tashi.manager.access import require_admin
from tashi.manager.hosts import HostView

router = APIRouter(prefix="/hosts", tags=["hosts"],
                   responses=ERROR_RESPONSES)


@router.get("")
async def list_hosts(caller: Caller, core: Core) -> list[HostOut]:
    require_admin(caller)
    return [host_out(v) for v in await run_in_threadpool(core.hosts.views)]


@router.get("/{name}")
async def show_host(name: str, caller: Caller, core: Core) -> HostOut:
    require_admin(caller)
    for view in await run_in_threadpool(core.hosts.views):
        if view.host.name == name:
            return host_out(view)
    raise NotFound(f"host {name} not found")


@router.post("", status_code=201)
async def add_host(body: HostCreate, caller: Caller, core: Core) -> HostCredentialOut:
    """Pre-register a host; the answer holds its agent's credential (shown once)."""
    require_admin(caller)
    host, token = await run_in_threadpool(core.hosts.register, body.name)
    return HostCredentialOut(host=host_out(HostView(host, False, ZERO, 0)), token=token)
