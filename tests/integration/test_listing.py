"""Listing instances and hosts at scale through the real manager: server-side filters,
keyset pages (``limit``, ``after``; the next page's cursor in the headers), who sees
what, and the refusals of bad parameters, each with its reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Unpack

import httpx
import pytest

from tashi.api.schemas import BindIn, InstanceCreate
from tashi.client import TashiClient
from tashi.client.paging import InstanceFilters
from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import Forbidden
from tashi.domain.states import Role
from tests.integration.conftest import Rig, raw_client


def user(rig: Rig, name: str) -> TashiClient:
    rig.core.store.create_user(name, Role.USER)
    token = new_token()
    rig.core.store.add_token(hash_token(token), "t", user=name)
    return rig.client(token)


async def create(client: TashiClient, name: str, count: int = 1) -> list[int]:
    made = await client.create_instances(InstanceCreate(name=name, image="guest",
                                                        count=count))
    return [i.id for i in made]


async def get(rig: Rig, path: str, params: Mapping[str, str],
              token: str | None = None) -> httpx.Response:
    async with raw_client(rig.url, headers={
            "Authorization": f"Bearer {token or rig.admin_token}"}) as http:
        return await http.get(f"/api/v1/{path}", params=params)


async def test_walking_pages_meets_each_instance_once_while_others_come_and_go(
        rig: Rig) -> None:
    there = await create(rig.admin, "vm", 20)
    seen: list[int] = []
    page, after = await rig.admin.instances_page(limit=4)
    while True:
        seen += [i.id for i in page]
        if after is None:
            break
        ahead = [i for i in there if i > after]
        for gone in (seen[-1], *ahead[:1]):  # one seen already, one not yet
            await rig.admin.destroy_instance(gone)
            there.remove(gone)
        there += await create(rig.admin, f"new-{len(seen)}")  # past the page: seen later
        page, after = await rig.admin.instances_page(limit=4, after=after)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(there) <= set(seen)  # every one there at the end was met, once
    assert [i.id async for i in rig.admin.iter_instances(page_size=3)] == there


async def test_filters_combine(rig: Rig) -> None:
    await rig.add_host("h1")
    alice = user(rig, "alice")
    web = await create(alice, "web", 3)
    db = await create(alice, "db", 2)
    theirs = await create(rig.admin, "web", 2)
    for instance_id in (web[0], db[0]):
        inst = await rig.admin.get_instance(instance_id)
        await rig.admin.bind(instance_id, BindIn(host="h1", generation=inst.generation))
        await rig.wait_for(instance_id, "Running")

    async def ids(**filters: Unpack[InstanceFilters]) -> list[int]:
        return [i.id for i in await rig.admin.list_instances(**filters)]

    assert await ids(owner="alice", name="web", state="Pending") == web[1:]
    assert await ids(host="h1") == [web[0], db[0]]
    assert await ids(host="h1", name="db") == [db[0]]
    assert await ids(state="Running,Pending", owner="admin") == theirs
    assert await ids(state=["Running", "Held"]) == [web[0], db[0]]
    assert await ids(network="default", name="we", owner="alice") == web
    assert await ids(network="nowhere") == []
    assert await ids(owner="nobody") == []
    both = await rig.admin.list_instances(name="web", limit=2, after=web[0])
    assert [i.id for i in both] == web[1:]


async def test_a_user_sees_only_their_own(rig: Rig) -> None:
    alice, bob = user(rig, "alice"), user(rig, "bob")
    hers = await create(alice, "a", 3)
    his = await create(bob, "b", 2)
    assert [i.id for i in await alice.list_instances()] == hers
    assert [i.id for i in await alice.list_instances(owner="alice", limit=2)] == hers[:2]
    assert [i.id async for i in alice.iter_instances(page_size=1)] == hers
    assert await alice.list_instances(name="b") == []
    with pytest.raises(Forbidden, match="user alice may list only its own instances, "
                                        "not bob's"):
        await alice.list_instances(owner="bob")
    assert [i.id for i in await rig.admin.list_instances(owner="bob")] == his


async def test_a_full_page_says_where_the_next_starts(rig: Rig) -> None:
    made = await create(rig.admin, "vm", 5)
    full = await get(rig, "instances", {"limit": "2", "name": "vm", "state": "Pending"})
    assert [i["id"] for i in full.json()] == made[:2]
    assert full.headers["X-Next-After"] == str(made[1])
    assert full.headers["Link"] == (f"</api/v1/instances?limit=2&name=vm&state=Pending"
                                    f"&after={made[1]}>; rel=\"next\"")
    last = await get(rig, "instances", {"limit": "3", "after": str(made[1])})
    assert [i["id"] for i in last.json()] == made[2:]
    assert "X-Next-After" in last.headers  # full: more may follow, the next page is empty
    end = await get(rig, "instances", {"limit": "3", "after": str(made[4])})
    assert (end.json(), "X-Next-After" in end.headers, "Link" in end.headers) == (
        [], False, False)
    whole = await get(rig, "instances", {})
    assert [i["id"] for i in whole.json()] == made
    assert "X-Next-After" not in whole.headers
    assert whole.headers["content-type"] == "application/json"


async def test_hosts_are_listed_by_name_and_paged(rig: Rig) -> None:
    for name in ("h3", "h1", "h10", "h2"):
        await rig.admin.add_host(name)
    await rig.admin.set_host_state("h2", "Drained")
    assert [h.name for h in await rig.admin.list_hosts()] == ["h1", "h10", "h2", "h3"]
    page, after = await rig.admin.hosts_page(limit=3)
    assert ([h.name for h in page], after) == (["h1", "h10", "h2"], "h2")
    assert [h.name async for h in rig.admin.iter_hosts(page_size=1)] == [
        "h1", "h10", "h2", "h3"]
    assert [h.name for h in await rig.admin.list_hosts(state="Drained")] == ["h2"]
    assert [h.name for h in await rig.admin.list_hosts(state=["Normal"], after="h1")] == [
        "h10", "h3"]
    with pytest.raises(Forbidden):
        await user(rig, "alice").list_hosts(limit=1)


@pytest.mark.parametrize(("path", "params", "status", "says"), [
    ("instances", {"state": "Bogus"}, 400, "state: instance state 'Bogus' is unknown; "
                                           "one of Pending,"),
    ("instances", {"state": "Pending,running"}, 400, "instance state 'running' is unknown"),
    ("instances", {"state": ","}, 400, "state: no instance state given"),
    ("instances", {"limit": "0"}, 422, "limit: Input should be greater than or equal to 1"),
    ("instances", {"limit": "5001"}, 422, "limit: Input should be less than or equal to 5000"),
    ("instances", {"limit": "ten"}, 422, "limit: Input should be a valid integer"),
    ("instances", {"after": "-1"}, 422, "after: Input should be greater than or equal to 0"),
    ("instances", {"name": ""}, 422, "name: invalid instance name ''"),
    ("instances", {"host": "h" * 64}, 422, "host: invalid host name 'hhh"),
    ("instances", {"owner": "Bob"}, 422, "owner: invalid user name 'Bob': use 1-63 of"),
    ("instances", {"network": "a\x00"}, 422, "network: invalid network name"),
    ("hosts", {"state": "Running"}, 400, "state: host state 'Running' is unknown; one of"),
    ("hosts", {"limit": "0"}, 422, "limit: Input should be greater than or equal to 1"),
    ("hosts", {"after": "../h1"}, 422, "after: invalid host name '../h1'"),
])
async def test_bad_parameters_are_refused_with_a_reason(
        rig: Rig, path: str, params: dict[str, str], status: int, says: str) -> None:
    resp = await get(rig, path, params)
    assert resp.status_code == status, resp.text
    assert says in resp.json()["message"]
