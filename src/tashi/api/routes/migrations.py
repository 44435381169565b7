"""/api/v1/instances/{ref}/migrate: live migration (admins)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_ADMIN, Caller, Core
from tashi.api.convert import instance_out
from tashi.api.schemas import ERROR_RESPONSES, InstanceOut
from tashi.api.schemas.migration import MigrateIn, tunables_of

router = APIRouter(prefix="/instances", tags=["instances"], responses=ERROR_RESPONSES)


@router.post("/{ref}/migrate", status_code=202, dependencies=[AS_ADMIN])
async def migrate_instance(ref: str, body: MigrateIn, caller: Caller,
                           core: Core) -> InstanceOut:
    """Move a Running instance to another host while it runs (MigratePrep, MigrateTrans,
    then Running on the target): to host ``to``, or to the one with the most free
    memory that can take it. Its disks go along; the guest stops for about
    ``max_downtime_ms``. ``last_migration`` says how long it took, as QEMU measured."""
    return instance_out(await run_in_threadpool(
        core.migrations.start, caller, ref, body.to, tunables_of(body)))


@router.post("/{ref}/migrate/abort", status_code=202, dependencies=[AS_ADMIN])
async def abort_migration(ref: str, caller: Caller, core: Core) -> InstanceOut:
    """Give up the migration under way: the instance runs on on its source host."""
    return instance_out(await run_in_threadpool(core.migrations.abort, caller, ref))
