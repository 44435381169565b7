"""The one place where errors become HTTP answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tashi.api.auth import check_first
from tashi.common.hostpaths import without_host_paths
from tashi.domain.errors import TashiError
from tashi.domain.models import Principal
from tashi.manager.metrics import ManagerMetrics
from tashi.store.failures import store_failure

log = logging.getLogger(__name__)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _answer(status: int, code: str, message: str,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "value_error":  # our own rule: its message as we wrote it
            msg = str(err.get("ctx", {}).get("error", msg))
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


def _error(request: Request, exc: TashiError) -> JSONResponse:
    """``exc`` as an answer; without host paths unless the caller is an admin."""
    if exc.http_status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    caller: Principal | None = getattr(request.state, "principal", None)
    admin = caller is not None and caller.is_admin
    return _answer(exc.http_status, exc.code,
                   exc.message if admin else without_host_paths(exc.message))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TashiError)
    async def tashi_error(request: Request, exc: TashiError) -> JSONResponse:
        return _error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            try:  # refused before the route's caller checks ran: they come first
                await check_first(request)
            except TashiError as refused:
                return _error(request, refused)
        return _answer(422, "invalid_input", _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # Starlette names the first route's methods only
            headers["Allow"] = ", ".join(_allowed(request))
        return _answer(exc.status_code, "http_error", str(exc.detail), headers)



class Unexpected:
    """ASGI middleware answering an unexpected exception 500 with a JSON reason, logged
    once. Starlette's handler of ``Exception`` re-raises after answering, so uvicorn
    logged it again and closed the keep-alive connection: the client's next request
    on it was reset, and taken for an unreachable manager. Innermost of the
    middlewares, so that the metrics count the 500."""

    def __init__(self, app: ASGIApp, *, metrics: ManagerMetrics) -> None:
        """Failures of the store's storage (:mod:`tashi.store.failures`) are answered
        507 or 503 naming the cause, counted on ``metrics`` and kept for /healthz."""
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # half an answer went out: only closing the connection ends it
                raise
            failure = store_failure(exc)
            if failure is None:
                log.exception("%s %s failed", scope.get("method"), scope.get("path"))
                answer = _answer(500, "internal", "internal error; see the manager's log")
            else:  # known, said in one line: no traceback for a full disk
                log.error("%s %s failed: %s", scope.get("method"), scope.get("path"),
                          failure.message)
                self._metrics.store_failures.labels(failure.kind).inc()
                self._metrics.store_health.saw(failure)
                answer = _answer(failure.status, f"store_{failure.kind.replace('-', '_')}",
                                 failure.message)
            await answer(scope, receive, send)


def _allowed(request: Request) -> list[str]:
    """Every method some route of the application takes at the request's path (each
    method tried against the routes, nested routers included)."""
    return [m for m in _METHODS if any(
        route.matches({**request.scope, "method": m})[0] is Match.FULL
        for route in request.app.router.routes)]
