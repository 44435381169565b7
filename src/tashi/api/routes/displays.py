"""A running VM's display: ``/api/v1/instances/{ref}/vnc`` and ``.../screenshot`` (users),
and the agents' answers, ``/api/v1/agent/hosts/{host}/instances/{id}/...``.

A user's call waits (at most 30 s) for its host's agent to answer: see
:mod:`tashi.manager.displays`.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Annotated

from fastapi import APIRouter, Path, Response
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_HOST_AGENT, Caller, Core
from tashi.api.schemas import ERROR_RESPONSES, MAX_ID, ScreenshotIn, VncAnswerIn, VncOut
from tashi.domain.errors import InvalidInput
from tashi.identity.access import require_host_agent

InstanceId = Annotated[int, Path(ge=1, le=MAX_ID)]
PNG = "image/png"

router = APIRouter(prefix="/instances", tags=["instances"], responses=ERROR_RESPONSES)
agent_router = APIRouter(prefix="/agent", tags=["agents"], responses=ERROR_RESPONSES)


@router.post("/{ref}/vnc")
async def open_vnc(ref: str, caller: Caller, core: Core) -> VncOut:
    """Start a VNC server on the Running instance's display, on its host's address, with
    a fresh password (each call makes a new one: earlier ones stop working). The
    password is in this answer only (409 when the instance is not Running)."""
    s = await core.displays.open_vnc(caller, ref)
    return VncOut(id=s.instance_id, name=s.name, host=s.host, port=s.port, password=s.password)


@router.delete("/{ref}/vnc", status_code=204)
async def close_vnc(ref: str, caller: Caller, core: Core) -> None:
    """End the instance's VNC server (done also when none runs)."""
    await core.displays.close_vnc(caller, ref)


@router.get("/{ref}/screenshot", response_class=Response,
            responses={200: {"content": {PNG: {}}, "description": "a PNG of the display"}})
async def screenshot(ref: str, caller: Caller, core: Core) -> Response:
    """A screenshot of the Running instance's display, taken now, as a PNG (at most
    720 KiB; 409 when the instance is not Running)."""
    shot = await core.displays.screenshot(caller, ref)
    return Response(shot.png, media_type=PNG,
                    headers={"X-Tashi-Screenshot": f"{shot.width}x{shot.height}"})


@agent_router.post("/hosts/{host}/instances/{instance_id}/vnc",
                   dependencies=[AS_HOST_AGENT])
async def vnc_answered(host: str, instance_id: InstanceId, body: VncAnswerIn, caller: Caller,
                       core: Core) -> dict[str, bool]:
    """The agent of ``host`` answers VNC request ``request`` of one of its instances."""
    require_host_agent(caller, host)
    kept = await run_in_threadpool(lambda: core.displays.vnc_answered(
        host, instance_id, body.request, vnc_host=body.host, port=body.port, error=body.error))
    return {"kept": kept}


@agent_router.post("/hosts/{host}/instances/{instance_id}/screenshot",
                   dependencies=[AS_HOST_AGENT])
async def screenshot_taken(host: str, instance_id: InstanceId, body: ScreenshotIn,
                           caller: Caller, core: Core) -> dict[str, bool]:
    """The agent of ``host`` answers screenshot request ``request``: the PNG, or why not."""
    require_host_agent(caller, host)
    png = None if body.png_base64 is None else _decoded(body.png_base64, instance_id)
    kept = await run_in_threadpool(core.displays.screenshot_taken, host, instance_id,
                                   body.request, png, body.error)
    return {"kept": kept}


def _decoded(text: str, instance_id: int) -> bytes:
    """The PNG's bytes (the manager checks what they are and their size)."""
    try:
        return b64decode(text, validate=True)
    except binascii.Error as exc:
        raise InvalidInput(f"png_base64: the screenshot of instance {instance_id} is not "
                           f"base64: {exc}") from exc
