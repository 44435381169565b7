"""The authorization matrix: every endpoint x every kind of caller, checked server side
with raw HTTP requests (no client-side help)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tashi.common.secrets import hash_token, new_token
from tashi.domain.states import Role
from tests.integration.conftest import Rig

CALLERS = ("none", "bad", "expired", "other", "owner", "admin", "agent", "other_agent")


@dataclass
class World:
    rig: Rig
    tokens: dict[str, str]
    instance: int


@pytest.fixture
async def world(rig: Rig) -> World:
    store = rig.core.store
    tokens = {"bad": "tashi_not-a-token", "admin": rig.admin_token}
    for name in ("owner", "other"):
        store.create_user(name, Role.USER)
        tokens[name] = new_token()
        store.add_token(hash_token(tokens[name]), "t", user=name)
    tokens["expired"] = new_token()
    store.add_token(hash_token(tokens["expired"]), "old", user="owner",
                    expires_at=datetime.now(UTC) - timedelta(seconds=1))
    for host in ("h1", "h2"):
        tokens["agent" if host == "h1" else "other_agent"] = (
            await rig.admin.add_host(host)).token
    async with httpx.AsyncClient(base_url=rig.url) as raw:
        resp = await raw.post("/api/v1/instances", json={"name": "mine", "image": "guest"},
                              headers={"Authorization": f"Bearer {tokens['owner']}"})
    assert resp.status_code == 201, resp.text
    return World(rig, tokens, resp.json()["id"])


# (method, path, body, callers allowed) -- {i} is the owner's instance id.
USER_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/instances/{i}", None),
    ("GET", "/instances/mine", None),
    ("GET", "/instances/{i}/console", None),
    ("GET", "/instances/{i}/events", None),
    ("POST", "/instances/{i}/shutdown", None),
    ("DELETE", "/instances/{i}", None),
]
ADMIN_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/hosts", None),
    ("GET", "/hosts/h1", None),
    ("POST", "/hosts", {"name": "h3"}),
    ("GET", "/users", None),
    ("POST", "/users", {"name": "carol", "role": "user"}),
    ("POST", "/networks", {"name": "net2", "kind": "user"}),
    ("GET", "/scheduler/snapshot", None),
    ("POST", "/instances/{i}/bind", {"host": "h1", "generation": 1}),
    ("POST", "/scheduler/unplaced/{i}?reason=x", None),
]
ANY_USER_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/instances", None),
    ("GET", "/images", None),
    ("GET", "/images/guest", None),
    ("GET", "/networks", None),
    ("POST", "/instances", {"name": "new", "image": "guest"}),
]
AGENT_ENDPOINTS: list[tuple[str, str, object]] = [
    ("GET", "/agent/hosts/h1/instances", None),
    ("POST", "/agent/hosts/h1/heartbeat",
     {"cores": 1, "memory_mib": 1, "agent_version": "t", "hypervisor": "t"}),
    ("POST", "/agent/hosts/h1/report", {"instances": []}),
]


async def call(w: World, caller: str, method: str, path: str,
               body: object) -> httpx.Response:
    headers = {} if caller == "none" else {"Authorization": f"Bearer {w.tokens[caller]}"}
    async with httpx.AsyncClient(base_url=w.rig.url) as raw:
        return await raw.request(method, "/api/v1" + path.format(i=w.instance), json=body,
                                 headers=headers)


def expected(kind: str, caller: str) -> set[int]:
    if caller in ("none", "bad", "expired"):
        return {401}
    allowed = {
        "user": {"owner", "admin"}, "admin": {"admin"}, "any": {"owner", "other", "admin"},
        "agent": {"agent", "admin"},
    }[kind]
    if caller not in allowed:
        # another user's instance is "not found", never "forbidden": nothing leaks
        return {404} if kind == "user" and caller == "other" else {403}
    return {200, 201, 202, 204, 409}  # 409: allowed, but e.g. a Pending can't shut down


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("kind", "method", "path", "body"),
    [("user", *e) for e in USER_ENDPOINTS] + [("admin", *e) for e in ADMIN_ENDPOINTS]
    + [("any", *e) for e in ANY_USER_ENDPOINTS] + [("agent", *e) for e in AGENT_ENDPOINTS],
)
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
    w.rig.core.hosts.heartbeat("h2", cores=4, memory_mib=4096, version="test")
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
    resp = await call(world, "admin", "GET", "/users", None)
    hosts = await call(world, "admin", "GET", "/hosts", None)
    for secret in world.tokens.values():
        assert secret not in resp.text
        assert secret not in hosts.text
        assert secret not in caplog.text
