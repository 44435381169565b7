"""The manager's ASGI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tashi import __version__
from tashi.api.errors import install_error_handlers
from tashi.api.home import OPENAPI, install_home
from tashi.api.hostmemo import HostOutMemo
from tashi.api.limits import BodySizeLimit
from tashi.api.routes import (
    agents,
    catalog,
    displays,
    events,
    hosts,
    instances,
    networks,
    scheduling,
    users,
)
from tashi.manager.core import ManagerCore
from tashi.manager.hosts import liveness_loop
from tashi.manager.retry import RetryController, RetryPolicy, retry_loop


def create_app(core: ManagerCore, *, liveness_interval_s: float = 5.0,
               retry: RetryPolicy | None = None, retry_interval_s: float = 1.0) -> FastAPI:
    """``retry``: how Held instances whose start failed are retried (default:
    :class:`RetryPolicy`'s defaults)."""
    retries = RetryController(core.store, core.clock, core.instances, retry or RetryPolicy())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        core.notifier.attach(asyncio.get_running_loop())
        tasks = [asyncio.create_task(liveness_loop(core.hosts, liveness_interval_s),
                                     name="liveness"),
                 asyncio.create_task(retry_loop(retries, retry_interval_s), name="retry")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="Tashi cluster manager", version=__version__, lifespan=lifespan,
                  openapi_url=OPENAPI, docs_url=None, redoc_url=None)
    app.state.core = core
    app.state.host_memo = HostOutMemo()
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app)
    install_home(app)
    for router in (instances.router, hosts.router, hosts.layout_router, catalog.router,
                   networks.router, users.router, agents.router, scheduling.router,
                   events.router, displays.router, displays.agent_router):
        app.include_router(router, prefix="/api/v1")

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
