"""Logging in with a password, and the rate limit on failed attempts."""

from __future__ import annotations

import httpx
import pytest

from tashi.common.clock import ManualClock
from tashi.domain.errors import RateLimited, TashiError, Unauthenticated
from tashi.identity.loginlimit import LoginLimiter
from tests.integration.conftest import Rig, raw_client

PASSWORD = "correct horse battery"


async def add_user(rig: Rig, name: str, password: str = PASSWORD) -> None:
    await rig.admin.add_user(name, "user", password)


async def login(rig: Rig, user: str, password: str) -> httpx.Response:
    async with raw_client(base_url=rig.url) as raw:
        return await raw.post("/api/v1/login", json={"user": user, "password": password})


async def test_login_with_the_right_password(rig: Rig) -> None:
    await add_user(rig, "alice")
    out = await rig.client(None).login("alice", PASSWORD, token_name="laptop",
                                      expires_in_s=3600)
    assert (out.name, out.user) == ("laptop", "alice")
    assert out.expires_at is not None
    me = await rig.client(out.token).whoami()
    assert (me.kind, me.name, me.role) == ("user", "alice", "user")
    again = await rig.client(None).login("alice", PASSWORD)
    assert again.name.startswith("login-")
    assert again.expires_at is None
    assert again.token != out.token


async def test_login_with_a_wrong_password_or_user(rig: Rig) -> None:
    await add_user(rig, "alice")
    await rig.admin.add_user("bob", "user")  # tokens only: no password logs in
    for user, password in (("alice", "wrong password"), ("nobody", PASSWORD),
                           ("bob", ""), ("BAD NAME", PASSWORD)):
        resp = await login(rig, user, password)
        assert resp.status_code == 401, (user, resp.text)
        assert resp.json() == {"error": "unauthenticated",
                               "message": "wrong user name or password"}
    with pytest.raises(Unauthenticated):
        await rig.client(None).login("alice", "wrong password")


async def test_failed_logins_are_limited_per_user(rig: Rig) -> None:
    await add_user(rig, "alice")
    await add_user(rig, "bob")
    for _ in range(5):
        assert (await login(rig, "alice", "guess")).status_code == 401
    limited = await login(rig, "alice", "guess")
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert "try again in" in limited.json()["message"]
    right = await login(rig, "alice", PASSWORD)  # refused too while limited
    assert right.status_code == 429
    assert (await login(rig, "bob", PASSWORD)).status_code == 201  # others are not


async def test_failed_logins_are_limited_per_address(rig: Rig) -> None:
    await add_user(rig, "alice")
    for n in range(20):  # one guess each at many names, from one address
        assert (await login(rig, f"user{n}", "guess")).status_code == 401
    assert (await login(rig, "alice", PASSWORD)).status_code == 429


async def test_429_is_documented(rig: Rig) -> None:
    async with raw_client(base_url=rig.url) as raw:
        spec = (await raw.get("/openapi.json")).json()
    answers = spec["paths"]["/api/v1/login"]["post"]["responses"]
    assert "429" in answers
    anyone = rig.client(None)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            await anyone.login("nobody", "guess")
    with pytest.raises(TashiError, match="too many failed logins for this user"):
        await anyone.login("nobody", "guess")


def test_the_limit_grows_and_is_forgotten() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(clock, per_user=2, per_address=100, base_s=10, max_s=35,
                           forget_s=1000)
    for _ in range(2):
        limiter.attempt("alice", "a1")  # each counts as a failure until it succeeds
    with pytest.raises(RateLimited, match="user; try again in 10 s"):
        limiter.attempt("alice", "a2")
    clock.advance(10)
    limiter.attempt("alice", "a2")  # the third failure: now blocked twice as long
    with pytest.raises(RateLimited, match="in 20 s"):
        limiter.attempt("alice", "a3")
    clock.advance(20)
    limiter.attempt("alice", "a3")
    clock.advance(1)
    with pytest.raises(RateLimited, match="in 34 s"):  # at most max_s (35), 1 s ago
        limiter.attempt("alice", "a3")
    clock.advance(1000)  # quiet long enough: forgotten
    limiter.attempt("alice", "a3")
    limiter.succeeded("alice", "a3")  # a success starts the user over
    for _ in range(2):
        limiter.attempt("alice", "a3")


def test_the_address_limit_and_its_memory() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(clock, per_user=100, per_address=3, max_keys=4)
    for name in ("a", "b", "c"):
        limiter.attempt(name, "10.0.0.1")
    limiter.succeeded("c", "10.0.0.1")  # a right password gives its attempt back
    limiter.attempt("d", "10.0.0.1")
    with pytest.raises(RateLimited, match="for this address"):
        limiter.attempt("e", "10.0.0.1")
    limiter.attempt("e", "10.0.0.2")  # the oldest keys make room: never more than max_keys
    limiter.attempt("f", "10.0.0.3")
    assert len(limiter._failures) == 4
