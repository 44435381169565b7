"""/api/v1/scheduler: the snapshot the scheduler places from (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import Caller, Core
from tashi.api.convert import host_out
from tashi.api.schemas import ERROR_RESPONSES, MAX_ID, PendingOut, SnapshotOut
from tashi.domain.states import InstanceState
from tashi.manager.access import require_admin
from tashi.manager.core import ManagerCore
from tashi.manager.notifier import PENDING

router = APIRouter(prefix="/scheduler", tags=["scheduler"],
                   responses=ERROR_RESPONSES)


@router.get("/snapshot")
async def snapshot(
    caller: Caller, core: Core,
    since: Annotated[str | None, Query(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=300)] = 0,
) -> SnapshotOut:
    """Hosts with their usage and the Pending instances; long-polls like the agents' watch."""
    require_admin(caller)
    revision = await core.notifier.wait(PENDING, since, min(wait, core.max_wait_s))
    return await run_in_threadpool(_snapshot, core, revision)


def _snapshot(core: ManagerCore, revision: str) -> SnapshotOut:
    pending = core.store.list_instances(states=[InstanceState.PENDING])
    return SnapshotOut(
        revision=revision,
        hosts=[host_out(v) for v in core.hosts.views()],
        pending=[PendingOut(id=i.id, name=i.name, owner=i.owner, cores=i.spec.cores,
                            memory_mib=i.spec.memory_mib, generation=i.generation)
                 for i in pending],
    )


@router.post("/unplaced/{instance_id}", status_code=204)
async def unplaced(
    instance_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    reason: Annotated[str, Query(max_length=1000)], caller: Caller, core: Core,
) -> None:
    """Record why the scheduler could not place a Pending instance (shown by vm show)."""
    require_admin(caller)
    await run_in_threadpool(core.instances.note_unplaced, instance_id, reason)
