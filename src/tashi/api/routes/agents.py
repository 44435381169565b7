"""/api/v1/agent: what host agents call. An agent acts only for its own host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tashi.api.auth import AS_HOST_AGENT, Caller, Core
from tashi.api.convert import desired_out, observation_of
from tashi.api.routes.users import address_of
from tashi.api.schemas import (
    ERROR_RESPONSES,
    ConsolesIn,
    DesiredOut,
    HeartbeatIn,
    JoinIn,
    ReportIn,
    UsageReportIn,
)
from tashi.identity.access import require_host_agent
from tashi.manager.notifier import host_key

router = APIRouter(prefix="/agent", tags=["agents"],
                   responses=ERROR_RESPONSES)


@router.post("/join")
async def join(body: JoinIn, core: Core, request: Request) -> dict[str, str]:
    """Auto registration: trade the cluster's join token for a new host's credential
    (409 for a host that already holds one: an admin reissues it)."""
    token = await run_in_threadpool(core.hosts.join, body.host, body.join_token,
                                    address_of(request))
    return {"host": body.host, "token": token}


@router.post("/hosts/{host}/heartbeat", status_code=204, dependencies=[AS_HOST_AGENT])
async def heartbeat(host: str, body: HeartbeatIn, caller: Caller, core: Core) -> None:
    require_host_agent(caller, host)
    await run_in_threadpool(lambda: core.hosts.heartbeat(
        host, cores=body.cores, memory_mib=body.memory_mib, disk_gib=body.disk_gib,
        version=body.agent_version, hypervisor=body.hypervisor,
        capabilities=None if body.capabilities is None else body.capabilities.domain()))


@router.get("/hosts/{host}/instances")
async def desired_instances(
    host: str, caller: Caller, core: Core,
    since: Annotated[str | None, Query(max_length=64)] = None,
    wait: Annotated[float, Query(ge=0, le=300)] = 0,
) -> DesiredOut:
    """The instances wanted on ``host``. With ``since`` (the last revision seen) and
    ``wait``, answers as soon as something changed, or after ``wait`` seconds. The
    store's epoch is read before them (the agent refuses one older than it saw)."""
    require_host_agent(caller, host)
    await run_in_threadpool(core.hosts.get, host)  # an unknown host: 404 before waiting
    revision = await core.notifier.wait(host_key(host), since, min(wait, core.max_wait_s))
    epoch, desired = await run_in_threadpool(core.reports.desired_state, host)
    return DesiredOut(revision=revision, epoch=epoch,
                      instances=[desired_out(d) for d in desired])


@router.post("/hosts/{host}/consoles", dependencies=[AS_HOST_AGENT])
async def consoles(host: str, body: ConsolesIn, caller: Caller, core: Core) -> dict[str, int]:
    """The console tails that changed on ``host``: kept, and streamed to who follows."""
    require_host_agent(caller, host)
    tails = [(c.id, c.text) for c in body.consoles]
    kept = await run_in_threadpool(core.reports.consoles, host, tails)
    return {"kept": kept, "ignored": len(tails) - kept}


@router.post("/hosts/{host}/usage", dependencies=[AS_HOST_AGENT])
async def usage(host: str, body: UsageReportIn, caller: Caller, core: Core) -> dict[str, int]:
    """A usage report of ``host``'s agent, counted once: each VM's consumption since its
    last report goes to its usage record. 409 for a report counted already (or older),
    403 for one naming an instance bound to another host; nothing counted then."""
    require_host_agent(caller, host)
    report = body.domain(host)
    kept = await run_in_threadpool(core.usage.record, report)
    return {"kept": kept, "ignored": len(report.figures) - kept}


@router.post("/hosts/{host}/report", dependencies=[AS_HOST_AGENT])
async def report(host: str, body: ReportIn, caller: Caller, core: Core) -> dict[str, int]:
    require_host_agent(caller, host)
    observations = [observation_of(o) for o in body.instances]
    ignored = await run_in_threadpool(core.reports.apply, host, observations)
    return {"applied": len(body.instances) - ignored, "ignored": ignored}
