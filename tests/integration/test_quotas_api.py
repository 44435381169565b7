"""Quotas through the real API (``/api/v1/quotas``, and the creates and resumes they
refuse), on sqlite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate, InstanceOut
from tashi.client import TashiClient
from tashi.domain.errors import Forbidden, InvalidInput, NotFound
from tashi.domain.models import ImageFormat, Visibility
from tashi.store.base import NewImage
from tests.integration.conftest import Rig, add_guest_image, raw_client, start_rig, stop_rig

BURST = 50


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """The rig (no scheduler) on each SQL backend, with BURST public images: creates on
    one image take turns on its row, so the burst uses one each, as strangers would."""
    url = (request.getfixturevalue("postgres").new_database()
           if request.param == "postgresql" else None)
    r, server, serving = await start_rig(tmp_path, store_url=url)
    add_guest_image(r)
    for n in range(BURST):
        r.core.store.create_image(NewImage(f"img{n}", "admin", ImageFormat.RAW, 1024, 1024,
                                           visibility=Visibility.PUBLIC))
    yield r
    await stop_rig(r, server, serving)


async def alice(rig: Rig) -> TashiClient:
    return rig.client((await rig.admin.add_user("alice", "user")).token)


async def test_fifty_concurrent_creates_against_ten_make_ten(any_rig: Rig) -> None:
    me = await alice(any_rig)
    await any_rig.admin.set_quota("alice", {"instances": 10})
    results = await asyncio.gather(*(me.create_instance(InstanceCreate(
        name=f"vm{n}", image=f"img{n}")) for n in range(BURST)), return_exceptions=True)
    made = [r for r in results if isinstance(r, InstanceOut)]
    refused = [r for r in results if not isinstance(r, InstanceOut)]
    assert len(made) == 10
    assert {str(e) for e in refused} == {"quota: alice may use 10 instances, uses 10, asks 1"}
    assert all(isinstance(e, Forbidden) for e in refused)
    assert len(await me.list_instances()) == 10
    assert (await me.get_quota("alice")).use.instances == 10


async def test_concurrent_bulk_creates_against_ten_make_ten(any_rig: Rig) -> None:
    me = await alice(any_rig)
    await any_rig.admin.set_quota("alice", {"instances": 10})
    with pytest.raises(Forbidden, match="quota: alice may use 10 instances, uses 0, asks 11"):
        await me.create_instances(InstanceCreate(name="all", image="guest", count=11))
    results = await asyncio.gather(*(me.create_instances(InstanceCreate(
        name=f"b{n}", image=f"img{n}", count=3)) for n in range(BURST // 2)),
        return_exceptions=True)
    batches = [r for r in results if isinstance(r, list)]
    assert len(batches) == 3  # 9 instances: a fourth batch of 3 would be 12
    assert all(isinstance(r, Forbidden) for r in results if not isinstance(r, list))
    assert len(await me.list_instances()) == 9


async def test_cores_memory_and_disk_are_limited_too(any_rig: Rig) -> None:
    me = await alice(any_rig)
    await any_rig.admin.set_quota("alice", {"cores": 8, "memory_mib": 1024, "disk_gib": 5})
    for n in range(3):
        await me.create_instance(InstanceCreate(name=f"c{n}", image="guest", cores=2))
    with pytest.raises(Forbidden, match="quota: alice may use 8 cores, uses 6, asks 4"):
        await me.create_instance(InstanceCreate(name="big", image="guest", cores=4))
    with pytest.raises(Forbidden, match="may use 1024 MiB of memory, uses 384, asks 1024"):
        await me.create_instance(InstanceCreate(name="fat", image="guest", memory_mib=1024))
    with pytest.raises(Forbidden, match="may use 5 GiB of disk, uses 0, asks 6"):
        await me.create_instance(InstanceCreate(name="disk", image="guest", disk_gib=6))
    shown = await me.get_quota("alice")
    assert shown.use.model_dump() == {"instances": 3, "cores": 6, "memory_mib": 384,
                                      "disk_gib": 0, "machines": 0}
    assert shown.limits.model_dump() == {"instances": None, "cores": 8, "memory_mib": 1024,
                                         "disk_gib": 5, "machines": None}


async def test_set_keeps_what_it_does_not_name(rig: Rig) -> None:
    await alice(rig)
    await rig.admin.set_quota("alice", {"cores": 8, "machines": 2})
    out = await rig.admin.set_quota("alice", {"cores": None, "instances": 4})
    assert out.limits.model_dump() == {"instances": 4, "cores": None, "memory_mib": None,
                                       "disk_gib": None, "machines": 2}
    assert [q.user for q in await rig.admin.list_quotas()] == ["alice"]
    cleared = await rig.admin.delete_quota("alice")
    assert cleared.limits.instances is None
    assert await rig.admin.list_quotas() == []


@pytest.mark.parametrize(("body", "says"), [
    ({"cores": -1}, "cores: Input should be greater than or equal to 0"),
    ({"cores": 1.5}, "cores: Input should be a valid integer"),
    ({"memory_mib": "2048"}, "memory_mib: Input should be a valid integer"),
    ({"instances": True}, "instances: Input should be a valid integer"),
    ({"disk_gib": 2**31}, "disk_gib: Input should be less than or equal to 2147483647"),
    ({"cpus": 2}, "cpus: Extra inputs are not permitted"),
])
async def test_bad_limits_are_refused_with_a_reason(rig: Rig, body: object, says: str) -> None:
    await alice(rig)
    async with raw_client(base_url=rig.url) as raw:
        resp = await raw.put("/api/v1/quotas/alice", json=body,
                             headers={"Authorization": f"Bearer {rig.admin_token}"})
    assert resp.status_code == 422, resp.text
    assert resp.json() == {"error": "invalid_input", "message": says}
    assert (await rig.admin.get_quota("alice")).limits.cores is None


async def test_unknown_users_and_empty_changes(rig: Rig) -> None:
    for call in (rig.admin.get_quota("carol"), rig.admin.delete_quota("carol"),
                 rig.admin.set_quota("carol", {"cores": 1})):
        with pytest.raises(NotFound, match="user 'carol' not found"):
            await call
    await alice(rig)
    with pytest.raises(InvalidInput, match="quota of alice: nothing to set"):
        await rig.admin.set_quota("alice", {})


async def test_users_see_only_their_own(rig: Rig) -> None:
    me = await alice(rig)
    await rig.admin.add_user("bob", "user")
    assert (await me.get_quota("alice")).user == "alice"
    with pytest.raises(Forbidden, match="user alice may see only its own quota, not bob's"):
        await me.get_quota("bob")
    with pytest.raises(Forbidden, match="user alice is not an admin"):
        await me.set_quota("alice", {"cores": 100})


async def test_resume_counts_against_the_quota_like_a_create(scheduled: Rig) -> None:
    rig = scheduled
    await rig.add_host("h1")
    me = await alice(rig)
    await rig.admin.set_quota("alice", {"cores": 2})
    web = await me.create_instance(InstanceCreate(name="web", image="guest", cores=2))
    await rig.wait_for(web.id, "Running", client=me)
    await me.operate_instance(web.id, "suspend")
    await rig.wait_for(web.id, "Suspended", client=me)
    db = await me.create_instance(InstanceCreate(name="db", image="guest", cores=2))
    with pytest.raises(Forbidden, match="quota: alice may use 2 cores, uses 2, asks 2"):
        await me.operate_instance(web.id, "resume")
    assert (await me.get_instance(web.id)).state == "Suspended"
    await me.destroy_instance(db.id)
    await rig.wait_gone(db.id)
    await me.operate_instance(web.id, "resume")
    await rig.wait_for(web.id, "Running", client=me)
