"""/api/v1/scheduler: what the scheduler places from, and its decisions (admin only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, Caller, Core
from tashi.api.convert import binding_out
from tashi.api.hostmemo import HostOutMemo
from tashi.api.schemas import (
    ERROR_RESPONSES,
    MAX_BINDINGS,
    MAX_ID,
    BindingIn,
    BindingOut,
    PendingOut,
    SnapshotOut,
    UnplacedIn,
)
from tashi.domain.models import Instance
from tashi.identity.access import require_admin
from tashi.manager.core import ManagerCore
from tashi.manager.notifier import PENDING
from tashi.scheduler.records import group_key, needed_abilities
from tashi.store.binding import Binding

router = APIRouter(prefix="/scheduler", tags=["scheduler"],
                   responses=ERROR_RESPONSES)
BINDINGS_OUT = TypeAdapter(list[BindingOut])


@router.get("/snapshot", response_model=SnapshotOut)
async def snapshot(
    caller: Caller, core: Core, request: Request,
    since: Annotated[str | None, Query(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=300)] = 0,
) -> Response:
    """Hosts with their usage and the Pending instances; long-polls like the agents' watch."""
    require_admin(caller)
    revision = await core.notifier.wait(PENDING, since, min(wait, core.max_wait_s))
    snap = await run_in_threadpool(_snapshot, core, revision, request.app.state.host_memo)
    # Thousands of hosts: serialized once, not validated again on the way out.
    return Response(snap.model_dump_json(), media_type="application/json")


def _snapshot(core: ManagerCore, revision: str, memo: HostOutMemo) -> SnapshotOut:
    snap = core.scheduling.snapshot()
    kinds = {n.name: n.kind.value for n in snap.networks}
    return SnapshotOut(
        revision=revision,
        hosts=memo(snap.hosts),
        pending=[pending_out(i, snap.at, kinds) for i in snap.pending],
        persistent_images_in_use=list(snap.persistent_images_in_use),
    )


def pending_out(i: Instance, now: datetime, kinds: Mapping[str, str]) -> PendingOut:
    """``i`` for the scheduler; ``kinds``: each network's kind, by name."""
    spec = i.spec
    return PendingOut(
        id=i.id, name=i.name, owner=i.owner, cores=spec.cores, memory_mib=spec.memory_mib,
        generation=i.generation, disk_gib=spec.disk_gib, target_host=spec.target_host,
        allow_elsewhere=spec.allow_elsewhere,
        group=None if spec.group is None else group_key(i.owner, spec.group),
        anti_affinity=spec.anti_affinity,
        persistent_images=[d.image for d in spec.disks if d.persistent],
        networks=sorted({n.network for n in spec.nics}),
        nic_models=sorted({n.model for n in spec.nics}),
        network_kinds=sorted({kinds[n.network] for n in spec.nics if n.network in kinds}),
        abilities=sorted(needed_abilities(i)),
        avoid_hosts=sorted(i.status.avoided(now)), message=i.status.message)


@router.post("/bindings", response_model=list[BindingOut], dependencies=[AS_ADMIN])
async def bind(
    bindings: Annotated[list[BindingIn], Body(max_length=MAX_BINDINGS)],
    caller: Caller, core: Core,
) -> Response:
    """Place Pending instances on hosts, each binding bound or refused (``conflict``:
    changed meanwhile, or the host has no room now; ``not_found``), in order. Each is
    checked against the host's usage inside the store's transaction: bindings of
    concurrent schedulers never overcommit a host."""
    require_admin(caller)
    asked = [Binding(b.id, b.host, b.generation, b.reason) for b in bindings]
    results = await run_in_threadpool(core.instances.bind_many, asked)
    out = [binding_out(r, b.host) for r, b in zip(results, asked, strict=True)]
    return Response(BINDINGS_OUT.dump_json(out), media_type="application/json")


@router.post("/unplaced", status_code=204, dependencies=[AS_ADMIN])
async def unplaced_many(
    notes: Annotated[list[UnplacedIn], Body(max_length=MAX_BINDINGS)],
    caller: Caller, core: Core,
) -> None:
    """Record why the scheduler could not place Pending instances (gone ones: skipped)."""
    require_admin(caller)
    await run_in_threadpool(core.instances.note_unplaced_many,
                            [(n.id, n.reason) for n in notes])


@router.post("/unplaced/{instance_id}", status_code=204, dependencies=[AS_ADMIN])
async def unplaced(
    instance_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    reason: Annotated[str, Query(max_length=1000)], caller: Caller, core: Core,
) -> None:
    """Record why the scheduler could not place a Pending instance (shown by vm show)."""
    require_admin(caller)
    await run_in_threadpool(core.instances.note_unplaced, instance_id, reason)
