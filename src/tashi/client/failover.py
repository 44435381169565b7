"""Several manager replicas behind one client: ``TASHI_URL=https://m1:8470,https://m2:8470``.

:class:`Failover` is an httpx transport that sends each request to the replica that
answered last, and moves on to the next one (in the order given, round) when:

- the connection cannot be made (refused, unreachable, timed out): the request never
  reached a manager, so any request is sent again to the next;
- the connection broke or timed out after the request was sent: only requests that
  change nothing (GET, HEAD, OPTIONS) are sent again; any other raises, the next call
  goes to the next replica, and the caller decides (a create may have been done:
  re-read before doing it again).

An HTTP answer, 4xx or 5xx included, is an answer: the client stays with that replica.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

log = logging.getLogger(__name__)

SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
BROKEN = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
          httpx.RemoteProtocolError, httpx.PoolTimeout)


class Failover(httpx.AsyncBaseTransport):
    """Requests made for ``urls[0]`` (the client's base URL) go to the replica in use.

    ``urls`` are base URLs (scheme, host, port, optional path prefix)."""

    def __init__(self, urls: Sequence[str], inner: httpx.AsyncBaseTransport) -> None:
        self._urls = [httpx.URL(u) for u in urls]
        self._inner = inner
        self._at = 0

    @property
    def current(self) -> str:
        """The base URL requests go to now."""
        return str(self._urls[self._at])

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        first, count = self._at, len(self._urls)
        failure: httpx.TransportError | None = None
        path = _relative(request.url, self._urls[0])
        for step in range(count):
            at = (first + step) % count
            _aim(request, self._urls[at], path)
            try:
                response = await self._inner.handle_async_request(request)
            except NOT_SENT as exc:
                failure = exc
            except BROKEN as exc:
                failure = exc
                if request.method not in SAFE:
                    self._move(at, (at + 1) % count, exc)
                    raise
            else:
                if at != first:
                    log.info("manager %s answers (instead of %s)", self._urls[at],
                             self._urls[first])
                self._at = at
                return response
            if count > 1:
                self._move(at, (at + 1) % count, failure)
        assert failure is not None
        raise failure

    def _move(self, at: int, to: int, why: Exception) -> None:
        if self._at == at and to != at:
            log.warning("manager %s: %s: %s; trying %s", self._urls[at], type(why).__name__,
                        why, self._urls[to])
            self._at = to

    async def aclose(self) -> None:
        await self._inner.aclose()


def _relative(url: httpx.URL, base: httpx.URL) -> bytes:
    """``url``'s path and query, less ``base``'s path prefix."""
    prefix = base.raw_path.rstrip(b"/")
    path = url.raw_path
    return path[len(prefix):] if prefix and path.startswith(prefix + b"/") else path


def _aim(request: httpx.Request, to: httpx.URL, path: bytes) -> None:
    """Point ``request`` at ``path`` (and query) under base URL ``to``."""
    request.url = request.url.copy_with(scheme=to.scheme, host=to.host, port=to.port,
                                        raw_path=to.raw_path.rstrip(b"/") + path)
    request.headers["Host"] = request.url.netloc.decode("ascii")
