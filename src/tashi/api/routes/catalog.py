"""/api/v1/images and /api/v1/networks: what instances are made from and attached to."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import image_out, network_out
from tashi.api.schemas import ErrorOut, ImageOut, NetworkCreate, NetworkOut
from tashi.domain.names import check_image_name, check_name
from tashi.manager.access import require_admin, require_user

router = APIRouter(tags=["images", "networks"],
                   responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}})


@router.get("/images")
async def list_images(caller: Caller, core: Core) -> list[ImageOut]:
    require_user(caller)
    return [image_out(i) for i in await run_in_threadpool(core.store.list_images)]


@router.get("/images/{name}")
async def show_image(name: str, caller: Caller, core: Core) -> ImageOut:
    require_user(caller)
    return image_out(await run_in_threadpool(core.store.get_image, check_image_name(name)))


@router.put("/images/{name}", status_code=201,
            responses={400: {"model": ErrorOut}, 409: {"model": ErrorOut}},
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "required": True}})
async def upload_image(name: str, request: Request, caller: Caller, core: Core) -> ImageOut:
    """Import a disk image (qcow2 or raw) from the request body, streamed."""
    return image_out(await core.images.upload(caller, name, request.stream()))


@router.delete("/images/{name}", status_code=204, responses={409: {"model": ErrorOut}})
async def delete_image(name: str, caller: Caller, core: Core) -> None:
    await run_in_threadpool(core.images.delete, caller, name)


@router.get("/networks")
async def list_networks(caller: Caller, core: Core) -> list[NetworkOut]:
    require_user(caller)
    return [network_out(n) for n in await run_in_threadpool(core.store.list_networks)]


@router.post("/networks", status_code=201, responses={409: {"model": ErrorOut}})
async def add_network(body: NetworkCreate, caller: Caller, core: Core) -> NetworkOut:
    require_admin(caller)
    net = await run_in_threadpool(core.store.create_network, check_name("network", body.name),
                                  body.kind)
    return network_out(net)
