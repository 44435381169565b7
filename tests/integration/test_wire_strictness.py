"""Request bodies are read strictly (issue 9 §4): JSON ``true``, ``"2"`` and ``1e3`` are
no integers; and permission is checked before the body (403 before 422)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tashi.common.secrets import hash_token, new_token
from tashi.domain.states import Role
from tests.integration.conftest import Rig, raw_client


@pytest.fixture
async def raw(rig: Rig) -> AsyncIterator[httpx.AsyncClient]:
    async with raw_client(base_url=f"{rig.url}/api/v1") as client:
        yield client


@pytest.fixture
def tokens(rig: Rig) -> dict[str, str]:
    rig.core.store.create_user("alice", Role.USER)
    alice = new_token()
    rig.core.store.add_token(hash_token(alice), "t", user="alice")
    return {"admin": rig.admin_token, "alice": alice}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("field", "value"), [
    ("cores", True), ("cores", "2"), ("cores", 1e3), ("cores", 2.0), ("memory_mib", "128"),
    ("count", False), ("persistent", 1), ("persistent", "true"), ("anti_affinity", "yes"),
])
async def test_loose_integers_and_booleans_are_refused(raw: httpx.AsyncClient,
                                                       tokens: dict[str, str], field: str,
                                                       value: object) -> None:
    resp = await raw.post("/instances", headers=auth(tokens["alice"]),
                          json={"name": "x", "image": "guest", field: value})
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"].startswith(f"{field}: "), resp.text


async def test_real_integers_and_booleans_are_taken(raw: httpx.AsyncClient,
                                                    tokens: dict[str, str]) -> None:
    resp = await raw.post("/instances", headers=auth(tokens["alice"]), json={
        "name": "x", "image": "guest", "cores": 2, "memory_mib": 256, "anti_affinity": True})
    assert resp.status_code == 201, resp.text
    assert (resp.json()["cores"], resp.json()["anti_affinity"]) == (2, True)


async def test_an_agent_heartbeat_takes_integers_only(rig: Rig,
                                                      raw: httpx.AsyncClient) -> None:
    credential = (await rig.admin.add_host("h1")).token
    body = {"cores": "4", "memory_mib": 1024, "agent_version": "t", "hypervisor": "t"}
    resp = await raw.post("/agent/hosts/h1/heartbeat", headers=auth(credential), json=body)
    assert resp.status_code == 422, resp.text


# (method, path, body) of admin-only routes with a body, each body malformed
ADMIN_BODIES: list[tuple[str, str, object]] = [
    ("POST", "/hosts", {"name": 7, "junk": True}),
    ("PATCH", "/hosts/h1", {"state": "Nonsense"}),
    ("POST", "/users", {"role": "god"}),
    ("POST", "/networks", {}),
    ("POST", "/scheduler/bindings", {"not": "a list"}),
    ("POST", "/scheduler/unplaced", "x"),
    ("PUT", "/settings/tokens", {"password_login_only": "maybe"}),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_BODIES)
async def test_a_non_admins_malformed_body_to_an_admin_route_is_forbidden(
        raw: httpx.AsyncClient, tokens: dict[str, str], method: str, path: str,
        body: object) -> None:
    resp = await raw.request(method, path, headers=auth(tokens["alice"]), json=body)
    assert resp.status_code == 403, resp.text
    not_json = await raw.request(method, path, content=b"{not json",
                                 headers={**auth(tokens["alice"]),
                                          "Content-Type": "application/json"})
    assert not_json.status_code == 403, not_json.text
    anonymous = await raw.request(method, path, content=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert anonymous.status_code == 401, anonymous.text
    admin = await raw.request(method, path, headers=auth(tokens["admin"]), json=body)
    assert admin.status_code == 422, admin.text  # the admin is told what is wrong


async def test_an_agents_malformed_body_to_a_users_route_is_forbidden(
        rig: Rig, raw: httpx.AsyncClient) -> None:
    credential = (await rig.admin.add_host("h1")).token
    for content in (b'{"name": 1}', b"[oops"):
        resp = await raw.post("/instances", content=content, headers={
            **auth(credential), "Content-Type": "application/json"})
        assert resp.status_code == 403, resp.text
    other = (await rig.admin.add_host("h2")).token
    resp = await raw.post("/agent/hosts/h1/report", content=b"[oops", headers={
        **auth(other), "Content-Type": "application/json"})
    assert resp.status_code == 403, resp.text  # another host's agent
