"""The manager's ASGI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import SecretStr

from tashi import __version__
from tashi.api.errors import Unexpected, install_error_handlers
from tashi.api.home import OPENAPI, install_home
from tashi.api.hostmemo import HostOutMemo
from tashi.api.limits import BodySizeLimit
from tashi.api.metrics import RequestMetrics, route_templates
from tashi.api.routes import (
    agents,
    catalog,
    displays,
    events,
    hosts,
    instances,
    metrics,
    migrations,
    networks,
    quotas,
    scheduling,
    usage,
    users,
)
from tashi.manager.accounting import CLOSE_EVERY_S, accounting_loop
from tashi.manager.core import ManagerCore
from tashi.manager.evacuation import EVACUATE_EVERY_S, evacuation_loop
from tashi.manager.hosts import liveness_loop
from tashi.manager.leadership import Leadership, default_replica_id, while_leading
from tashi.manager.retry import RetryController, RetryPolicy, retry_loop


def create_app(core: ManagerCore, *, liveness_interval_s: float = 5.0,
               retry: RetryPolicy | None = None, retry_interval_s: float = 1.0,
               metrics_token: SecretStr | None = None, usage_interval_s: int | None = None,
               usage_close_every_s: float = CLOSE_EVERY_S,
               leadership: Leadership | None = None) -> FastAPI:
    """``retry``: how Held instances whose start failed are retried (default:
    :class:`RetryPolicy`'s defaults); ``metrics_token``: the scrape token that reads
    ``/metrics`` (besides admins' tokens; see :mod:`tashi.api.routes.metrics`);
    ``usage_interval_s``: the length of usage intervals (None: the store's), closed
    every ``usage_close_every_s`` (see :mod:`tashi.manager.accounting`).

    The loops that must run once in a cluster (accounting, liveness with HA restarts,
    retries, evacuations) run only while ``leadership`` (default: this process's, with
    the default lease) leads, their store writes fenced by its token
    (:mod:`tashi.manager.leadership`); the API itself serves in every replica."""
    retries = RetryController(core.store, core.clock, core.instances, retry or RetryPolicy())
    leader = leadership or Leadership(core.store, default_replica_id())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core.notifier.attach(asyncio.get_running_loop())
        if usage_interval_s is not None:
            await asyncio.to_thread(core.accounting.use_interval, usage_interval_s)
        once = {"accounting": lambda: accounting_loop(core.accounting, usage_close_every_s),
                "liveness": lambda: liveness_loop(core.hosts, liveness_interval_s, core.ha),
                "retry": lambda: retry_loop(retries, retry_interval_s),
                "evacuation": lambda: evacuation_loop(core.evacuations, EVACUATE_EVERY_S)}
        tasks = [asyncio.create_task(leader.run(), name="leadership"),
                 asyncio.create_task(while_leading(leader, once), name="leader work")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(leader.release)  # the next replica takes over at once

    app = FastAPI(title="Tashi cluster manager", version=__version__, lifespan=lifespan,
                  openapi_url=OPENAPI, docs_url=None, redoc_url=None)
    app.state.core = core
    app.state.host_memo = HostOutMemo()
    app.state.metrics_token = metrics_token
    app.add_middleware(Unexpected, metrics=core.metrics)  # innermost: the others see its 500
    app.add_middleware(BodySizeLimit)
    templates: dict[int, str] = {}
    app.add_middleware(RequestMetrics, metrics=core.metrics,  # outermost: sees 413s too
                       templates=templates)
    install_error_handlers(app)
    install_home(app)
    for router in (instances.router, hosts.router, hosts.layout_router, catalog.router,
                   networks.router, users.router, agents.router, scheduling.router,
                   events.router, displays.router, displays.agent_router, quotas.router,
                   usage.router, migrations.router):
        app.include_router(router, prefix="/api/v1")
        templates.update(route_templates(router, "/api/v1"))
    app.include_router(metrics.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """``degraded``, and why, while a storage failure was seen in the last minute
        (the manager serves on: reads work, writes answer 507/503 naming the cause)."""
        failure = core.metrics.store_health.current()
        if failure is None:
            return {"status": "ok", "version": __version__}
        return {"status": "degraded", "version": __version__, "store": failure.message}

    return app
