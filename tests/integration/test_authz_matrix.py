"""The authorization matrix: every endpoint x every kind of caller, checked server side
with raw HTTP requests (no client-side help)."""

from __future__ import annotations

import functools
import logging
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tashi import __version__
from tashi.common.passwords import hash_password
from tashi.common.secrets import hash_token, new_token
from tashi.domain.states import Role
from tests.integration.conftest import Rig

CALLERS = ("none", "bad", "expired", "other", "owner", "admin", "agent", "other_agent")
PASSWORD = "the owner's password"

TIMEOUT_S = 60.0  # a slow moment of a loaded machine is not an authorization failure


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: hash once


@functools.cache
def tiny_qcow2() -> bytes:
    """A real (empty, 1 MiB) qcow2 image, made once with qemu-img."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"],
                       check=True)
        return path.read_bytes()


@dataclass
class World:
    rig: Rig
    tokens: dict[str, str]
    instance: int
    token_id: int  # a spare token of the owner's


@pytest.fixture
async def world(rig: Rig) -> World:
    store = rig.core.store
    tokens = {"bad": "tashi_not-a-token", "admin": rig.admin_token}
    for name in ("owner", "other"):
        store.create_user(name, Role.USER)
        tokens[name] = new_token()
        store.add_token(hash_token(tokens[name]), "t", user=name)
    store.set_password_hash("owner", password_hash())
    spare = store.add_token(hash_token(new_token()), "spare", user="owner")
    tokens["expired"] = new_token()
    store.add_token(hash_token(tokens["expired"]), "old", user="owner",
                    expires_at=datetime.now(UTC) - timedelta(seconds=1))
    for host in ("h1", "h2"):
        tokens["agent" if host == "h1" else "other_agent"] = (
            await rig.admin.add_host(host)).token
    async with httpx.AsyncClient(base_url=rig.url, timeout=TIMEOUT_S) as raw:
        resp = await raw.post("/api/v1/instances", json={"name": "mine", "image": "guest"},
                              headers={"Authorization": f"Bearer {tokens['owner']}"})
        assert resp.status_code == 201, resp.text
        owned = await raw.put("/api/v1/images/owned", content=tiny_qcow2(),
                              headers={"Authorization": f"Bearer {tokens['owner']}"})
        assert owned.status_code == 201, owned.text
    return World(rig, tokens, resp.json()["id"], spare.id)


# (method, path, body) -- {i} is the owner's instance id, {t} a token id of the owner's.
USER_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/instances/{i}", None),
    ("GET", "/instances/mine", None),
    ("GET", "/instances/{i}/console", None),
    ("GET", "/instances/{i}/events", None),
    ("POST", "/instances/{i}/shutdown", None),
    ("POST", "/instances/{i}/pause", None),
    ("POST", "/instances/{i}/unpause", None),
    ("POST", "/instances/{i}/reboot", None),
    ("POST", "/instances/{i}/suspend", None),
    ("POST", "/instances/{i}/resume", None),
    ("GET", "/instances/{i}/console?follow=true", None),  # a stream: 404 before it opens
    ("POST", "/instances/{i}/vnc", None),  # 409: it is Pending (tests/integration/test_vnc.py)
    ("DELETE", "/instances/{i}/vnc", None),
    ("GET", "/instances/{i}/screenshot", None),
    ("DELETE", "/instances/{i}", None),
    ("DELETE", "/tokens/{t}", None),
    ("GET", "/images/owner/owned", None),  # private: others get 404, as for instances
    ("DELETE", "/images/owner/owned", None),
]
ADMIN_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/hosts", None),
    ("GET", "/hosts/h1", None),
    ("POST", "/hosts", {"name": "h3"}),
    ("GET", "/users", None),
    ("POST", "/users", {"name": "carol", "role": "user"}),
    ("POST", "/users", {"name": "dave", "role": "user", "password": "dave's password"}),
    ("DELETE", "/users/other", None),
    ("POST", "/networks", {"name": "net2", "kind": "user"}),
    ("DELETE", "/networks/default", None),  # 409 for all: the default stays
    ("GET", "/scheduler/snapshot", None),
    ("POST", "/instances/{i}/bind", {"host": "h1", "generation": 1}),
    ("POST", "/scheduler/unplaced/{i}?reason=x", None),
    ("POST", "/scheduler/unplaced", [{"id": 1, "reason": "x"}]),
    ("POST", "/scheduler/bindings", [{"id": 1, "host": "h1", "generation": 1}]),
    ("PATCH", "/hosts/h1", {"state": "Drained"}),
    ("POST", "/hosts/h2/credential", None),
    ("DELETE", "/instances/{i}?force=true", None),  # its host is silent or gone
    ("POST", "/instances/{i}/migrate", {"to": "h2"}),  # 409 for admins: fake hosts can't
    ("POST", "/instances/{i}/migrate/abort", None),  # 409 for admins: not migrating
    ("GET", "/layout", None),  # every user's instances
    ("GET", "/join-token", None),
    ("POST", "/join-token", None),
    ("DELETE", "/join-token", None),
    ("PUT", "/settings/tokens", {"password_login_only": False}),
    ("DELETE", "/images/guest", None),  # the admin's public image: all see it, it deletes it
    ("GET", "/quotas", None),
    ("PUT", "/quotas/owner", {"cores": 8, "instances": None}),
    ("DELETE", "/quotas/owner", None),
    ("GET", "/metrics", None),  # outside /api/v1 (ROOT); also the scrape token: test_metrics.py
]
ANY_USER_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/instances", None),
    ("GET", "/events", None),  # each sees their own instances' (tests/integration/test_events.py)
    ("GET", "/images", None),
    ("GET", "/images/guest", None),
    ("GET", "/networks", None),
    ("GET", "/networks/default", None),  # with the caller's instances on it
    ("GET", "/slots?cores=1&memory_mib=128", None),  # users: hosts not reserved for others
    ("POST", "/instances", {"name": "new", "image": "guest"}),
    ("POST", "/instances/bulk", {"name": "many", "image": "guest", "count": 2}),
    ("PUT", "/images/new-image", b""),  # the body: tiny_qcow2()
    ("POST", "/images", {"source": "guest", "name": "copied"}),  # into one's own
    ("GET", "/tokens", None),
    ("POST", "/tokens", {"name": "new", "expires_in_s": 60}),
    ("GET", "/settings/tokens", None),
    ("GET", "/usage", None),  # each sees their own (tests/integration/test_usage_reports_api.py)
]
# the owner itself, or an admin (others are forbidden: these name no hidden record)
SELF_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/tokens?user=owner", None),
    ("GET", "/quotas/owner", None),  # with what the owner uses
    ("GET", "/usage?user=owner", None),
    ("PUT", "/users/owner/password", {"password": "a new password",
                                      "current_password": PASSWORD}),
]
# anyone: no token needed
PUBLIC_ENDPOINTS: list[tuple[str, str, object]] = [
    ("POST", "/login", {"user": "owner", "password": PASSWORD}),
]
# any holder of a valid token: users, admins and agents
PRINCIPAL_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/whoami", None),
]
# what the matrix leaves to other tests, and why
ELSEWHERE = {
    ("POST", "/api/v1/agent/join"): "public, needs the join token: test_join_tokens.py",
    ("GET", "/healthz"): "public by design (load balancers): no data but the version",
}
AGENT_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/agent/hosts/h1/instances", None),
    ("POST", "/agent/hosts/h1/heartbeat",
     {"cores": 1, "memory_mib": 1, "agent_version": "t", "hypervisor": "t"}),
    ("POST", "/agent/hosts/h1/report", {"instances": []}),
    ("POST", "/agent/hosts/h1/consoles", {"consoles": []}),
    ("POST", "/agent/hosts/h1/instances/{i}/vnc", {"request": 1}),  # 409: not bound to h1
    ("POST", "/agent/hosts/h1/instances/{i}/screenshot", {"request": 1, "error": "x"}),
    ("POST", "/agent/hosts/h1/usage",
     {"sender": "a1", "seq": 1, "measured_at": "2026-12-02T10:00:00Z", "instances": []}),
]


ROOT = ("/metrics",)  # paths of the matrix outside /api/v1


def url_of(path: str) -> str:
    return path if path.startswith(ROOT) else "/api/v1" + path


async def call(w: World, caller: str, method: str, path: str,
               body: object) -> httpx.Response:
    headers = {} if caller == "none" else {"Authorization": f"Bearer {w.tokens[caller]}"}
    url = url_of(path.format(i=w.instance, t=w.token_id))
    async with httpx.AsyncClient(base_url=w.rig.url, timeout=TIMEOUT_S) as raw:
        if "follow=true" in path:  # a stream that may never end: its status is enough
            async with raw.stream(method, url, headers=headers) as resp:
                if resp.status_code >= 400:
                    await resp.aread()  # an error is a whole JSON body
                return resp
        if isinstance(body, bytes):
            return await raw.request(method, url, content=body or tiny_qcow2(),
                                     headers=headers)
        return await raw.request(method, url, json=body, headers=headers)


def expected(kind: str, caller: str) -> set[int]:
    if kind == "public":
        return {201}
    if caller in ("none", "bad", "expired"):
        return {401}
    allowed = {
        "user": {"owner", "admin"}, "admin": {"admin"}, "any": {"owner", "other", "admin"},
        "agent": {"agent", "admin"}, "self": {"owner", "admin"},
        "principal": {"owner", "other", "admin", "agent", "other_agent"},
    }[kind]
    if caller not in allowed:
        # another user's instance is "not found", never "forbidden": nothing leaks
        return {404} if kind == "user" and caller == "other" else {403}
    return {200, 201, 202, 204, 409}  # 409: allowed, but e.g. a Pending can't shut down


MATRIX = ([("user", *e) for e in USER_ENDPOINTS] + [("admin", *e) for e in ADMIN_ENDPOINTS]
          + [("any", *e) for e in ANY_USER_ENDPOINTS] + [("agent", *e) for e in AGENT_ENDPOINTS]
          + [("self", *e) for e in SELF_ENDPOINTS] + [("public", *e) for e in PUBLIC_ENDPOINTS]
          + [("principal", *e) for e in PRINCIPAL_ENDPOINTS])


async def test_matrix_covers_every_operation(rig: Rig) -> None:
    """A new route must enter the matrix (or ELSEWHERE, with a reason)."""
    async with httpx.AsyncClient(base_url=rig.url, timeout=TIMEOUT_S) as raw:
        spec = (await raw.get("/openapi.json")).json()
    operations = {(method.upper(), path) for path, ops in spec["paths"].items()
                  for method in ops}

    def operation_of(method: str, concrete: str) -> tuple[str, str] | None:
        """The operation a request goes to: of the templates it matches, the most literal."""
        matching = [(m, t) for m, t in operations if m == method and re.fullmatch(
            re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)), concrete)]
        return min(matching, key=lambda op: op[1].count("{"), default=None)

    covered = set(ELSEWHERE) | {
        operation_of(method, url_of(path.split("?")[0].format(i=7, t=7)))
        for _kind, method, path, _body in MATRIX}
    assert sorted(operations - covered) == []


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("kind", "method", "path", "body"), MATRIX)
async def test_matrix(world: World, caller: str, kind: str, method: str, path: str,
                      body: object) -> None:
    resp = await call(world, caller, method, path, body)
    assert resp.status_code in expected(kind, caller), (caller, method, path, resp.text)
    if resp.status_code >= 400:
        assert set(resp.json()) == {"error", "message"}


async def test_other_users_never_see_the_instance(world: World) -> None:
    listed = await call(world, "other", "GET", "/instances", None)
    assert listed.json() == []
    for path in ("/instances/mine", "/instances/{i}", "/instances/{i}/console",
                 "/instances/{i}/events"):
        resp = await call(world, "other", "GET", path, None)
        assert resp.status_code == 404
        assert "mine" not in resp.text or path == "/instances/mine"
        assert "owner" not in resp.text


async def test_agent_cannot_report_for_another_hosts_instance(world: World) -> None:
    w = world
    w.rig.core.hosts.heartbeat("h2", cores=4, memory_mib=4096, version=__version__)
    w.rig.core.instances.bind(w.instance, "h2", 1)
    resp = await call(w, "agent", "POST", "/agent/hosts/h1/report",
                      {"instances": [{"id": w.instance, "observed": "absent"}]})
    assert resp.json() == {"applied": 0, "ignored": 1}
    assert (await w.rig.admin.get_instance(w.instance)).state == "Activating"
    resp = await call(w, "agent", "POST", "/agent/hosts/h2/report",
                      {"instances": [{"id": w.instance, "observed": "running"}]})
    assert resp.status_code == 403


async def test_secrets_never_in_answers_or_logs(world: World,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    new_password = "the owner's new password"
    logged_in = await call(world, "none", "POST", "/login",
                           {"user": "owner", "password": PASSWORD})
    made = await call(world, "owner", "POST", "/tokens", {"name": "laptop"})
    answers = [
        await call(world, "none", "POST", "/login", {"user": "owner", "password": "x" + PASSWORD}),
        await call(world, "owner", "PUT", "/users/owner/password",
                   {"password": new_password, "current_password": PASSWORD}),
        await call(world, "admin", "POST", "/users", {"name": "eve", "password": new_password}),
        await call(world, "admin", "GET", "/users", None),
        await call(world, "admin", "GET", "/hosts", None),
        await call(world, "owner", "GET", "/tokens", None),
        await call(world, "admin", "GET", "/tokens?user=owner", None),
    ]
    store = world.rig.core.store
    secrets = [*world.tokens.values(), logged_in.json()["token"], made.json()["token"],
               PASSWORD, "x" + PASSWORD, new_password, password_hash(),
               str(store.get_password_hash("owner")), str(store.get_password_hash("eve")),
               *(t.token_hash for t in store.list_tokens())]
    assert [r.status_code for r in (logged_in, made, *answers)] == [
        201, 201, 401, 204, 201, 200, 200, 200, 200]
    for secret in secrets:
        for resp in answers:
            assert secret not in resp.text
        assert secret not in caplog.text
