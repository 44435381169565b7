"""/api/v1/images and /api/v1/networks: what instances are made from and attached to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import image_out, network_out
from tashi.api.schemas import ERROR_RESPONSES, ImageOut, NetworkCreate, NetworkOut
from tashi.domain.names import IMAGE_MAX_LENGTH, IMAGE_PATTERN

ImageNameParam = Annotated[str, Path(pattern=IMAGE_PATTERN, max_length=IMAGE_MAX_LENGTH)]

router = APIRouter(tags=["images", "networks"],
                   responses=ERROR_RESPONSES)


@router.get("/images")
async def list_images(caller: Caller, core: Core) -> list[ImageOut]:
    return [image_out(i) for i in await run_in_threadpool(core.images.list_images, caller)]


@router.get("/images/{name}")
async def show_image(name: ImageNameParam, caller: Caller, core: Core) -> ImageOut:
    return image_out(await run_in_threadpool(core.images.get, caller, name))


@router.put("/images/{name}", status_code=201,
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "required": True}})
async def upload_image(name: ImageNameParam, request: Request, caller: Caller,
                       core: Core) -> ImageOut:
    """Import a disk image (qcow2 or raw) from the request body, streamed."""
    return image_out(await core.images.upload(caller, name, request.stream()))


@router.delete("/images/{name}", status_code=204)
async def delete_image(name: ImageNameParam, caller: Caller, core: Core) -> None:
    await run_in_threadpool(core.images.delete, caller, name)


@router.get("/networks")
async def list_networks(caller: Caller, core: Core) -> list[NetworkOut]:
    networks = await run_in_threadpool(core.networks.list_networks, caller)
    return [network_out(n) for n in networks]


@router.post("/networks", status_code=201)
async def add_network(body: NetworkCreate, caller: Caller, core: Core) -> NetworkOut:
    net = await run_in_threadpool(core.networks.create, caller, body.name, body.kind)
    return network_out(net)
