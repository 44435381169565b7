"""Two schedulers racing over one small cluster: a burst is placed without any host
overcommitted, whatever the two decide at the same moment."""

from __future__ import annotations

import asyncio
from collections import Counter

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import BindingIn, InstanceCreate, InstanceOut, SnapshotOut
from tashi.scheduler.service import Scheduler
from tests.integration.conftest import Rig

HOSTS = ("h1", "h2", "h3", "h4")  # 8 cores each: 32 instances of 1 core fit


async def small_cluster_with_a_burst(rig: Rig, count: int = 200) -> None:
    for name in HOSTS:
        await rig.add_host(name, FakeDriver(cores=8, memory_mib=8192))
    made = await rig.admin.create_instances(InstanceCreate(name="burst", image="guest",
                                                           memory_mib=256, count=count))
    assert len(made) == count


async def assert_no_overcommit(rig: Rig, bound: int = 32) -> None:
    hosts = await rig.admin.list_hosts()
    assert all(h.used_cores <= h.cores and h.used_memory_mib <= h.memory_mib for h in hosts)
    instances = await rig.admin.list_instances()
    placed = Counter(i.host for i in instances if i.host is not None)
    assert placed == dict.fromkeys(HOSTS, 8)
    assert sum(i.state == "Pending" for i in instances) == len(instances) - bound
    assert {i.message for i in instances if i.state == "Pending"} == {
        "no host fits: 4 lack cores (need 1, best has 0)"}


def settled(instances: list[InstanceOut]) -> bool:
    """32 Running, and every other one Pending with the schedulers' reason."""
    return (sum(i.state == "Running" for i in instances) == 32
            and all(i.message.startswith("no host fits") for i in instances
                    if i.state == "Pending"))


async def test_two_schedulers_deciding_at_once_never_overcommit(rig: Rig) -> None:
    """Both place from the same snapshot, one in the other order: each is sure its 32
    instances fit; the store lets 32 in all through."""
    await small_cluster_with_a_burst(rig)
    snap = await rig.admin.snapshot(None, 0)
    backwards = SnapshotOut.model_validate({**snap.model_dump(),
                                            "pending": snap.model_dump()["pending"][::-1]})
    one, two = (Scheduler(rig.client(rig.admin_token)) for _ in range(2))
    refused = await asyncio.gather(one.schedule(snap), two.schedule(backwards))
    assert sum(refused) == 32  # each sent 32 bindings: 32 in all were bound
    await one.schedule(await rig.admin.snapshot(None, 0))  # notes why the rest wait
    await assert_no_overcommit(rig)


async def test_two_running_schedulers_place_a_burst_consistently(rig: Rig) -> None:
    tasks = [asyncio.create_task(Scheduler(rig.client(rig.admin_token), poll_wait_s=5).run())
             for _ in range(2)]
    try:
        await small_cluster_with_a_burst(rig)
        deadline = asyncio.get_running_loop().time() + 15
        while not settled(await rig.admin.list_instances()):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        await assert_no_overcommit(rig)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_stale_and_unknown_bindings_are_answered_one_by_one(rig: Rig) -> None:
    await rig.add_host("h1", FakeDriver(cores=1, memory_mib=1024))
    a, b = await rig.admin.create_instances(InstanceCreate(name="x", image="guest", count=2))
    answers = await rig.admin.bind_many([
        BindingIn(id=a.id, host="h1", generation=a.generation, reason="test"),
        BindingIn(id=b.id, host="h1", generation=b.generation),
        BindingIn(id=b.id, host="ghost", generation=b.generation),
        BindingIn(id=b.id, host="h1", generation=b.generation + 5)])
    assert [(x.result, x.host) for x in answers] == [
        ("bound", "h1"), ("conflict", "h1"), ("not_found", "ghost"), ("conflict", "h1")]
    assert "lack " in answers[1].message
    assert (await rig.admin.get_instance(a.id)).message == "placed on host h1 (test)"
