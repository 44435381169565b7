"""Several manager URLs (:mod:`tashi.client.failover`): the client moves to the next
replica when a connection fails, sticks to the one that answered, and never moves on
an HTTP answer (4xx, 5xx)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tashi.cli.config import check_url
from tashi.client import TashiClient
from tashi.domain.errors import InvalidInput, NotFound, Unavailable

URLS = "http://m1:8470,http://m2:8470/prefix/,http://m3:8470"
Handler = Callable[[httpx.Request], httpx.Response]


class Replicas:
    """A mock transport: each host answers, or fails as ``failing`` says."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.failing: dict[str, type[httpx.TransportError]] = {}
        self.status: dict[str, int] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.seen.append(f"{request.method} {host}{request.url.raw_path.decode()}")
        assert request.headers["host"] == request.url.netloc.decode()
        if host in self.failing:
            raise self.failing[host]("no", request=request)
        status = self.status.get(host, 200)
        if status >= 400:
            code = {404: "not_found", 503: "unavailable"}[status]
            return httpx.Response(status, json={"error": code, "message": "gone"})
        return httpx.Response(200, json={"status": "ok", "version": host})


def client_of(replicas: Replicas) -> TashiClient:
    return TashiClient(URLS, "t0ken", transport=httpx.MockTransport(replicas))


async def test_a_refused_connection_moves_on_and_the_client_stays() -> None:
    r = Replicas()
    r.failing["m1"] = httpx.ConnectError
    async with client_of(r) as c:
        assert await c.manager_version() == "m2"
        assert await c.manager_version() == "m2"  # m1 is not tried again
    assert r.seen == ["GET m1/healthz", "GET m2/prefix/healthz", "GET m2/prefix/healthz"]


async def test_an_http_error_is_an_answer() -> None:
    r = Replicas()
    r.status["m1"] = 404
    async with client_of(r) as c:
        with pytest.raises(NotFound, match="gone"):
            await c.get_instance("web")
    assert r.seen == ["GET m1/api/v1/instances/web"]
    r.status["m1"] = 503
    async with client_of(r) as c:
        with pytest.raises(Unavailable):
            await c.get_instance("web")
    assert r.seen[1:] == ["GET m1/api/v1/instances/web"]


async def test_a_read_is_sent_again_after_a_broken_connection() -> None:
    r = Replicas()
    r.failing["m1"] = httpx.ReadTimeout
    async with client_of(r) as c:
        assert await c.manager_version() == "m2"
    assert r.seen == ["GET m1/healthz", "GET m2/prefix/healthz"]


async def test_a_write_is_not_sent_twice_but_the_next_call_moves_on() -> None:
    r = Replicas()
    r.failing["m1"] = httpx.RemoteProtocolError  # it may have been done: the caller re-reads
    async with client_of(r) as c:
        with pytest.raises(Unavailable, match="m1:8470, http://m2:8470/prefix"):
            await c.shutdown_instance("web")
        del r.failing["m1"]
        await c.manager_version()
    assert r.seen == ["POST m1/api/v1/instances/web/shutdown", "GET m2/prefix/healthz"]


async def test_every_replica_down_is_unavailable_naming_them_all() -> None:
    r = Replicas()
    r.failing.update(m1=httpx.ConnectError, m2=httpx.ConnectTimeout, m3=httpx.ConnectError)
    async with client_of(r) as c:
        with pytest.raises(Unavailable) as caught:
            await c.whoami()
        r.failing.pop("m1")
        assert await c.manager_version() == "m1"  # in turn: after m3 comes m1
    assert "http://m1:8470, http://m2:8470/prefix, http://m3:8470" in caught.value.message
    assert [s.split()[1][:2] for s in r.seen] == ["m1", "m2", "m3", "m1"]


def test_urls_are_checked_one_by_one() -> None:
    assert check_url("http://m1:8470/, https://m2:8470") == "http://m1:8470,https://m2:8470"
    for bad in ("http://m1:8470,,http://m2", "http://m1:8470,ftp://m2", "http://m1,"):
        with pytest.raises(InvalidInput):
            check_url(bad)
        with pytest.raises(InvalidInput):
            TashiClient(bad)
