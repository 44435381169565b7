"""/api/v1/networks/{name}: one network and the instances attached to it, and its
removal (listing and adding networks: :mod:`tashi.api.routes.catalog`)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import network_out
from tashi.api.schemas import ERROR_RESPONSES, AttachedInstanceOut, NetworkShowOut

router = APIRouter(tags=["networks"], responses=ERROR_RESPONSES)


@router.delete("/networks/{name}", status_code=204)
async def remove_network(name: str, caller: Caller, core: Core) -> None:
    """Remove a network (admins): 409 while an instance has a NIC on it, and for the
    default network."""
    await run_in_threadpool(core.networks.remove, caller, name)


@router.get("/networks/{name}")
async def show_network(name: str, caller: Caller, core: Core) -> NetworkShowOut:
    """The network, and the instances with a NIC on it that the caller may see (users:
    their own; admins: everyone's)."""
    network, attached = await run_in_threadpool(core.networks.show, caller, name)
    return NetworkShowOut(**network_out(network).model_dump(), instances=[
        AttachedInstanceOut(id=i.id, name=i.name, owner=i.owner, state=i.state)
        for i in attached])
