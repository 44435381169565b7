"""The API's request metrics: an ASGI middleware counting each request by method, route
template and status, with its latency (the metrics themselves are the core's:
:class:`tashi.manager.metrics.ManagerMetrics`).

Labels are the route's template (``/api/v1/instances/{ref}``), never the path asked
(which holds ids and names), and the method when it is one the API serves ("other"
else): nothing a caller types becomes a label. Requests no route matches count as route
"unmatched". The templates of routes included with a prefix are told with
:func:`route_templates` (FastAPI puts the route as its router declared it in the
scope, without the prefix). The cost per request is a few dictionary look-ups and two
locked additions: the children of the metrics are kept by their labels.

Latency is until the response's last byte, so a long poll or a stream counts its wait.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import APIRouter
from prometheus_client import Counter, Histogram

from tashi.manager.metrics import ManagerMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class RequestMetrics:
    """Counts every HTTP request ``app`` answers on ``metrics`` (the core's: apps made
    of one core share them)."""

    def __init__(self, app: App, *, metrics: ManagerMetrics,
                 templates: Mapping[int, str]) -> None:
        """``templates``: the full template of each route (by its id) whose own path
        lacks its prefix (see :func:`route_templates`)."""
        self._app = app
        self._templates = templates
        self._requests = metrics.http_requests
        self._latency = metrics.http_latency
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the server answers when the app raises before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._count(scope, status, time.perf_counter() - began)

    def _count(self, scope: Scope, status: int, seconds: float) -> None:
        found = scope.get("route")
        route = self._templates.get(id(found)) or getattr(found, "path", None)
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (method, route if isinstance(route, str) else UNMATCHED, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(key[0], key[1], str(status)),
                self._latency.labels(key[0], key[1]))
        children[0].inc()
        children[1].observe(seconds)


def route_templates(router: APIRouter, prefix: str) -> dict[int, str]:
    """The full template of each of ``router``'s routes, by the route's id, once it is
    included with ``prefix``."""
    return {id(r): prefix + path for r in router.routes
            if isinstance(path := getattr(r, "path", None), str)}
