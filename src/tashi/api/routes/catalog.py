"""/api/v1/images and /api/v1/networks: what instances are made from and attached to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, Caller, Core
from tashi.api.convert import image_out, network_out
from tashi.api.schemas import ERROR_RESPONSES, ImageCopyIn, ImageOut, NetworkCreate, NetworkOut
from tashi.domain.models import Visibility
from tashi.domain.names import IMAGE_MAX_LENGTH, IMAGE_PATTERN, NAME_PATTERN
from tashi.domain.resources import MAX_MEMORY_MIB

ImageNameParam = Annotated[str, Path(pattern=IMAGE_PATTERN, max_length=IMAGE_MAX_LENGTH)]
OwnerParam = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]

router = APIRouter(tags=["images", "networks"],
                   responses=ERROR_RESPONSES)


@router.get("/images")
async def list_images(caller: Caller, core: Core) -> list[ImageOut]:
    return [image_out(i) for i in await run_in_threadpool(core.images.list_images, caller)]


@router.get("/images/{name}")
async def show_image(name: ImageNameParam, caller: Caller, core: Core) -> ImageOut:
    """Your image ``name``, else the public one of that name."""
    return image_out(await run_in_threadpool(core.images.get, caller, name))


@router.get("/images/{owner}/{name}")
async def show_owned_image(owner: OwnerParam, name: ImageNameParam, caller: Caller,
                           core: Core) -> ImageOut:
    """``owner``'s image ``name`` (404 if it is private and not yours)."""
    return image_out(await run_in_threadpool(core.images.get, caller, f"{owner}/{name}"))


@router.put("/images/{name}", status_code=201,
            openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}, "required": True}})
async def upload_image(name: ImageNameParam, request: Request, caller: Caller, core: Core,
                       visibility: Visibility = Visibility.PRIVATE,
                       min_memory_mib: Annotated[int, Query(ge=0, le=MAX_MEMORY_MIB)] = 0,
                       ) -> ImageOut:
    """Import a disk image (qcow2 or raw) of yours from the request body, streamed.
    ``visibility=public`` (admins only): every user may boot it by its bare name.
    ``min_memory_mib``: the least memory its guest boots with; smaller instances are
    refused (400)."""
    return image_out(await core.images.upload(caller, name, request.stream(),
                                              visibility=visibility,
                                              min_memory_mib=min_memory_mib))


@router.post("/images", status_code=201)
async def copy_image(body: ImageCopyIn, caller: Caller, core: Core) -> ImageOut:
    """Copy an image you may see into an image of your own (private)."""
    return image_out(await core.images.copy(caller, body.source, body.name))


@router.delete("/images/{name}", status_code=204)
async def delete_image(name: ImageNameParam, caller: Caller, core: Core) -> None:
    await run_in_threadpool(core.images.delete, caller, name)


@router.delete("/images/{owner}/{name}", status_code=204)
async def delete_owned_image(owner: OwnerParam, name: ImageNameParam, caller: Caller,
                             core: Core) -> None:
    await run_in_threadpool(core.images.delete, caller, f"{owner}/{name}")


@router.get("/networks")
async def list_networks(caller: Caller, core: Core) -> list[NetworkOut]:
    networks = await run_in_threadpool(core.networks.list_networks, caller)
    return [network_out(n) for n in networks]


@router.post("/networks", status_code=201, dependencies=[AS_ADMIN])
async def add_network(body: NetworkCreate, caller: Caller, core: Core) -> NetworkOut:
    net = await run_in_threadpool(core.networks.create, caller, body.name, body.kind)
    return network_out(net)
