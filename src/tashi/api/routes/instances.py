"""/api/v1/instances: what users ask for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import PlainTextResponse
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import event_out, instance_out
from tashi.api.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    BindIn,
    DestroyOut,
    ErrorOut,
    EventOut,
    InstanceCreate,
    InstanceOut,
)
from tashi.domain.errors import InvalidInput
from tashi.identity.access import require_admin
from tashi.manager.events import EventFilter
from tashi.manager.instances import InstanceRequest

InstanceId = Annotated[int, Path(ge=1, le=MAX_ID)]
INSTANCES_OUT = TypeAdapter(list[InstanceOut])

router = APIRouter(prefix="/instances", tags=["instances"],
                   responses=ERROR_RESPONSES)


@router.post("", status_code=201)
async def create_instance(body: InstanceCreate, caller: Caller, core: Core) -> InstanceOut:
    """Create one instance (``count`` must be 1: see ``POST /instances/bulk``)."""
    if body.count != 1:
        raise InvalidInput("count: more than one instance is created by POST /instances/bulk")
    (inst,) = await run_in_threadpool(core.instances.create, caller, request_of(body))
    return instance_out(inst)


@router.post("/bulk", status_code=201, response_model=list[InstanceOut])
async def create_instances(body: InstanceCreate, caller: Caller, core: Core) -> Response:
    """Create ``count`` instances named NAME-1 ... NAME-N (just NAME for one), all or
    none: if one name is taken, none is created."""
    created = await run_in_threadpool(core.instances.create, caller, request_of(body))
    out = INSTANCES_OUT.dump_json([instance_out(i) for i in created])  # once, not re-checked
    return Response(out, status_code=201, media_type="application/json")


def request_of(body: InstanceCreate) -> InstanceRequest:
    return InstanceRequest(
        name=body.name, image=body.image, cores=body.cores, memory_mib=body.memory_mib,
        persistent=body.persistent, networks=tuple(body.networks), nic_model=body.nic_model,
        shutdown_timeout_s=body.shutdown_timeout_s, disk_gib=body.disk_gib, host=body.host,
        allow_elsewhere=body.allow_elsewhere, group=body.group,
        anti_affinity=body.anti_affinity, count=body.count)


@router.get("")
async def list_instances(caller: Caller, core: Core) -> list[InstanceOut]:
    return [instance_out(i) for i in await run_in_threadpool(core.instances.list_visible, caller)]


@router.get("/{ref}")
async def show_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    return instance_out(await run_in_threadpool(core.instances.get, caller, ref))


@router.post("/{ref}/shutdown", status_code=202)
async def shutdown_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    return instance_out(await run_in_threadpool(core.instances.shutdown, caller, ref))


@router.delete("/{ref}", status_code=202)
async def destroy_instance(ref: str, caller: Caller, core: Core) -> DestroyOut:
    """Destroy: removed at once when no host holds it, else Destroying until its agent
    has killed the VM and removed its files."""
    before = await run_in_threadpool(core.instances.get, caller, ref)
    inst = await run_in_threadpool(core.instances.destroy, caller, str(before.id))
    return DestroyOut(id=before.id, name=before.name, deleted=inst is None,
                      instance=instance_out(inst) if inst else None)


_JSON_ERROR = {"content": {"application/json": {"schema": ErrorOut.model_json_schema()}}}


@router.get("/{ref}/console", response_class=PlainTextResponse,
            responses={status: {"description": "error", **_JSON_ERROR}
                       for status in ERROR_RESPONSES})
async def instance_console(ref: str, caller: Caller, core: Core) -> str:
    return await run_in_threadpool(core.instances.console, caller, ref)


@router.get("/{ref}/events")
async def instance_events(ref: str, caller: Caller, core: Core) -> list[EventOut]:
    inst = await run_in_threadpool(core.instances.get, caller, ref)
    events = await run_in_threadpool(core.events.list, caller, EventFilter(instance=str(inst.id)))
    return [event_out(e) for e in events]


@router.post("/{instance_id}/bind")
async def bind_instance(instance_id: InstanceId, body: BindIn, caller: Caller,
                        core: Core) -> InstanceOut:
    """The scheduler's call: place a Pending instance on a host."""
    require_admin(caller)
    inst = await run_in_threadpool(core.instances.bind, instance_id, body.host, body.generation)
    return instance_out(inst)
