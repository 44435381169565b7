"""/api/v1/instances: what users ask for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, AS_USER, Caller, Core
from tashi.api.convert import event_out, instance_out, instances_json
from tashi.api.listing import PAGED, Limit, States, paged, states_of
from tashi.api.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    BindIn,
    DestroyOut,
    ErrorOut,
    EventOut,
    HostName,
    InstanceCreate,
    InstanceName,
    InstanceOut,
    NetworkName,
    UsageOut,
    UserName,
)
from tashi.common.consoletail import new_part
from tashi.domain.errors import InvalidInput, NotFound
from tashi.domain.models import Instance, Principal
from tashi.domain.operations import Operation
from tashi.domain.states import InstanceState
from tashi.identity.access import require_admin
from tashi.manager.core import ManagerCore
from tashi.manager.disks import DiskRequest
from tashi.manager.events import EventFilter
from tashi.manager.instances import InstanceRequest
from tashi.manager.listing import InstanceQuery
from tashi.manager.notifier import console_key

InstanceId = Annotated[int, Path(ge=1, le=MAX_ID)]
FOLLOW_WAIT_S = 15.0  # a followed console is read again at least this often

router = APIRouter(prefix="/instances", tags=["instances"],
                   responses=ERROR_RESPONSES)


#: A client's key for a create it may send again (its answer lost): the same key and
#: request return what the first one made (kept a day), another request is a 409.
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                              max_length=128,
                                              pattern=r"^[A-Za-z0-9._:-]+$")]


@router.post("", status_code=201, dependencies=[AS_USER])
async def create_instance(body: InstanceCreate, caller: Caller, core: Core,
                          key: IdempotencyKey = None) -> InstanceOut:
    """Create one instance (``count`` must be 1: see ``POST /instances/bulk``)."""
    if body.count != 1:
        raise InvalidInput("count: more than one instance is created by POST /instances/bulk")
    made = await run_in_threadpool(_create, core, caller, body, key)
    if not made:
        raise NotFound(f"the instance Idempotency-Key {key!r} created is gone")
    return instance_out(made[0])


@router.post("/bulk", status_code=201, response_model=list[InstanceOut],
             dependencies=[AS_USER])
async def create_instances(body: InstanceCreate, caller: Caller, core: Core,
                           key: IdempotencyKey = None) -> Response:
    """Create ``count`` instances named NAME-1 ... NAME-N (just NAME for one), all or
    none: if one name is taken, none is created."""
    created = await run_in_threadpool(_create, core, caller, body, key)
    return Response(instances_json(created), status_code=201, media_type="application/json")


def _create(core: ManagerCore, caller: Principal, body: InstanceCreate,
            key: str | None) -> list[Instance]:
    return core.instances.create(caller, request_of(body), idempotency_key=key)


def request_of(body: InstanceCreate) -> InstanceRequest:
    return InstanceRequest(
        name=body.name, image=body.image, cores=body.cores, memory_mib=body.memory_mib,
        persistent=body.persistent, networks=tuple(body.networks), nic_model=body.nic_model,
        shutdown_timeout_s=body.shutdown_timeout_s, disk_gib=body.disk_gib,
        disks=tuple(DiskRequest(image=d.image, persistent=d.persistent, size_gib=d.size_gib,
                                scratch_gib=d.scratch_gib, bus=d.bus, cache=d.cache)
                    for d in body.disks), host=body.host,
        allow_elsewhere=body.allow_elsewhere, group=body.group,
        anti_affinity=body.anti_affinity, ha=body.ha, count=body.count,
        hostname=body.hostname,
        user_data=body.user_data, ssh_keys=tuple(body.ssh_keys))


@router.get("", response_model=list[InstanceOut], responses=PAGED)
async def list_instances(
    request: Request, caller: Caller, core: Core, state: States = None,
    host: Annotated[HostName | None, Query()] = None,
    owner: Annotated[UserName | None, Query()] = None,
    name: Annotated[InstanceName | None, Query(description="the start of their names")] = None,
    network: Annotated[NetworkName | None, Query()] = None, limit: Limit = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID,
                                       description="ids above it (the last one's)")] = None,
) -> Response:
    """The instances you may see (users: their own; ``owner``: another's is refused)
    meeting every filter given, by id; a page of ``limit`` when asked (see
    :mod:`tashi.api.listing`: a full page says where the next one starts)."""
    query = InstanceQuery(owner=owner, host=host, name_prefix=name, network=network,
                          states=states_of(state, InstanceState, "instance"), after=after,
                          limit=limit)
    found = await run_in_threadpool(core.instances.list_visible, caller, query)
    body = await run_in_threadpool(instances_json, found)  # response_model: docs only
    full = limit is not None and len(found) == limit
    return paged(request, body, str(found[-1].id) if full else None)


@router.get("/{ref}")
async def show_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """The instance, with the latest usage figures its host measured."""
    inst = await run_in_threadpool(core.instances.get, caller, ref)
    sample = await run_in_threadpool(core.usage.latest, inst.id)
    shown = instance_out(inst)
    return shown if sample is None else shown.model_copy(update={"usage": UsageOut.of(sample)})


@router.post("/{ref}/shutdown", status_code=202)
async def shutdown_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    return instance_out(await run_in_threadpool(core.instances.shutdown, caller, ref))


@router.post("/{ref}/pause", status_code=202)
async def pause_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """Freeze a Running instance in memory (Pausing, then Paused)."""
    return instance_out(await run_in_threadpool(core.instances.operate, caller, ref,
                                                Operation.PAUSE))


@router.post("/{ref}/unpause", status_code=202)
async def unpause_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """Thaw a Paused instance (Unpausing, then Running)."""
    return instance_out(await run_in_threadpool(core.instances.operate, caller, ref,
                                                Operation.UNPAUSE))


@router.post("/{ref}/suspend", status_code=202)
async def suspend_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """Save a Running or Paused instance to the suspend directory and free its host
    (Suspending, then Suspended on no host); a failed save leaves it running, the reason
    in its message."""
    return instance_out(await run_in_threadpool(core.instances.operate, caller, ref,
                                                Operation.SUSPEND))


@router.post("/{ref}/resume", status_code=202)
async def resume_instance(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """Start a Suspended instance again from its saved state, on a host the scheduler
    chooses (Resuming, then Running); a failed restore leaves it Suspended, its saved
    state whole, the reason in its message."""
    return instance_out(await run_in_threadpool(core.instances.operate, caller, ref,
                                                Operation.RESUME))


@router.post("/{ref}/reboot", status_code=202)
async def reboot_instance(ref: str, caller: Caller, core: Core,
                          hard: Annotated[bool, Query()] = False) -> InstanceOut:
    """Reboot a Running instance: soft (the guest's own reboot, a reset after its
    shutdown timeout) or ``hard`` (a reset at once). It stays Running; ``reboots_done``
    reaches ``reboots`` once its host has done it."""
    return instance_out(await run_in_threadpool(
        lambda: core.instances.reboot(caller, ref, hard=hard)))


@router.delete("/{ref}", status_code=202)
async def destroy_instance(ref: str, caller: Caller, core: Core,
                           force: Annotated[bool, Query()] = False) -> DestroyOut:
    """Destroy: removed at once when no host holds it, else Destroying until its agent
    has killed the VM and removed its files. ``force`` (admins): remove the record at
    once, in any state, when its host is silent or gone (409 while the host is up)."""
    if force:
        gone = await run_in_threadpool(core.instances.force_destroy, caller, ref)
        return DestroyOut(id=gone.id, name=gone.name, deleted=True, instance=None)
    before = await run_in_threadpool(core.instances.get, caller, ref)
    inst = await run_in_threadpool(core.instances.destroy, caller, str(before.id))
    return DestroyOut(id=before.id, name=before.name, deleted=inst is None,
                      instance=instance_out(inst) if inst else None)


_JSON_ERROR = {"content": {"application/json": {"schema": ErrorOut.model_json_schema()}}}


@router.get("/{ref}/console", response_class=PlainTextResponse,
            responses={status: {"description": "error", **_JSON_ERROR}
                       for status in ERROR_RESPONSES})
async def instance_console(ref: str, caller: Caller, core: Core,
                           follow: Annotated[bool, Query()] = False) -> Response:
    """The console's tail its host's agent last sent. With ``follow``: that, then what
    is written to it as it arrives (a stream that ends when the instance is gone)."""
    if not follow:
        return PlainTextResponse(await run_in_threadpool(core.instances.console, caller, ref))
    inst = await run_in_threadpool(core.instances.get, caller, ref)
    since = core.notifier.revision(console_key(inst.id))  # before the first read
    text = await run_in_threadpool(core.instances.console, caller, str(inst.id))
    return StreamingResponse(_follow(core, caller, inst.id, text, since),
                             media_type="text/plain; charset=utf-8")


async def _follow(core: ManagerCore, caller: Principal, instance_id: int, text: str,
                  since: str) -> AsyncIterator[str]:
    yield text
    key = console_key(instance_id)
    while not core.notifier.closed:  # the manager stopping ends every stream
        since = await core.notifier.wait(key, since, FOLLOW_WAIT_S)
        try:
            new = await run_in_threadpool(core.instances.console, caller, str(instance_id))
        except NotFound:
            return  # destroyed: the stream ends
        part, text = new_part(text, new), new
        if part:
            yield part


@router.get("/{ref}/events")
async def instance_events(ref: str, caller: Caller, core: Core) -> list[EventOut]:
    inst = await run_in_threadpool(core.instances.get, caller, ref)
    events = await run_in_threadpool(core.events.list, caller, EventFilter(instance=str(inst.id)))
    return [event_out(e) for e in events]


@router.post("/{instance_id}/bind", dependencies=[AS_ADMIN])
async def bind_instance(instance_id: InstanceId, body: BindIn, caller: Caller,
                        core: Core) -> InstanceOut:
    """The scheduler's call: place a Pending instance on a host."""
    require_admin(caller)
    inst = await run_in_threadpool(core.instances.bind, instance_id, body.host, body.generation)
    return instance_out(inst)
