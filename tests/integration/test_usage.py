"""Usage figures through the real API: the fake driver's VMs are measured by their
agent's sampler, sent on their own path, kept per instance and shown with it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.service import Agent
from tashi.api.schemas import BindIn, InstanceCreate, InstanceOut, UsageOut
from tests.integration.conftest import Rig, raw_client

USAGE_EVERY_S = 0.05


class Clock:
    """The fake driver's clock: it moves when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def metered_host(rig: Rig, name: str, clock: Clock) -> FakeDriver:
    """Host ``name`` with a fake driver on ``clock`` and an agent sampling usage often."""
    cred = await rig.admin.add_host(name)
    rig.tokens[name] = cred.token
    driver = rig.drivers[name] = FakeDriver(cores=8, memory_mib=8192, clock=clock)
    agent = Agent(rig.client(cred.token), name, driver, rig.image_dir,
                  heartbeat_interval_s=0.2, poll_wait_s=5, resync_s=0.1, report_every_s=1,
                  usage_every_s=USAGE_EVERY_S)
    await agent.heartbeat()
    rig.agents[name] = asyncio.create_task(agent.run())
    return driver


async def wait_usage(rig: Rig, ref: int, cpu_seconds: float,
                     timeout_s: float = 10) -> tuple[InstanceOut, UsageOut]:
    """The instance once its usage shows ``cpu_seconds`` (a sample after the clock moved)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        inst = await rig.admin.get_instance(ref)
        if inst.usage is not None and inst.usage.cpu_seconds == cpu_seconds:
            return inst, inst.usage
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"instance {ref}: usage {inst.usage}, not {cpu_seconds} "
                                 "CPU seconds")
        await asyncio.sleep(0.02)


async def running(rig: Rig, name: str, host: str) -> InstanceOut:
    inst = await rig.admin.create_instance(InstanceCreate.model_validate(
        {"name": name, "image": "guest", "cores": 2, "memory_mib": 512}))
    await rig.admin.bind(inst.id, BindIn(host=host, generation=inst.generation))
    return await rig.wait_for(inst.id, "Running")


async def test_figures_reach_the_instance_and_grow_with_time(rig: Rig) -> None:
    clock = Clock()
    await metered_host(rig, "h1", clock)
    inst = await running(rig, "web", "h1")
    before = datetime.now(UTC)
    clock.now += 10  # the fake: half of each of its 2 cores busy -> 10 CPU seconds
    shown, usage = await wait_usage(rig, inst.id, 10.0)
    assert usage.host == "h1"
    assert usage.memory_rss_bytes == 256 * 1024 * 1024  # half its memory
    assert (usage.disk_read_bytes, usage.disk_written_bytes) == (10 << 20, 10 * 256 << 10)
    assert usage.net_rx_bytes == usage.net_tx_bytes == 10 * 64 * 1024  # one NIC
    assert usage.at >= before
    clock.now += 5
    _, later = await wait_usage(rig, inst.id, 15.0)
    assert later.disk_read_bytes > usage.disk_read_bytes
    assert later.started_at == usage.started_at  # the same process: counted from its start
    assert later.at > usage.at
    status = rig.core.store.get_instance(inst.id)
    assert status.generation == shown.generation  # no spec write ...
    assert status.updated_at == shown.updated_at  # ... nor any status write for figures


async def test_the_list_carries_no_figures_and_they_go_with_the_instance(rig: Rig) -> None:
    clock = Clock()
    await metered_host(rig, "h1", clock)
    inst = await running(rig, "db", "h1")
    clock.now += 2
    await wait_usage(rig, inst.id, 2.0)
    (listed,) = await rig.admin.list_instances()
    assert listed.usage is None  # one instance's answer only: a list stays cheap
    await rig.admin.destroy_instance(inst.id)
    await rig.wait_gone(inst.id)  # its figures did not hold the record back
    assert not rig.core.store.list_instances()


def report(seq: int, *instances: dict[str, object]) -> dict[str, object]:
    """A usage report's body, as an agent sends it."""
    return {"sender": "agent-1", "seq": seq, "measured_at": "2026-12-02T10:00:30Z",
            "instances": list(instances)}


def figures(instance_id: int, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": instance_id, "started_at": "2026-12-02T10:00:00Z", "cpu_seconds": 1.5,
        "memory_rss_bytes": 1 << 20, "disk_read_bytes": 0, "disk_written_bytes": 0,
        "net_rx_bytes": None, "net_tx_bytes": None}
    return {**body, **changes}


async def test_an_agent_reports_its_own_hosts_instances_only(rig: Rig) -> None:
    await metered_host(rig, "h1", Clock())
    await rig.admin.add_host("h2")  # registered, its agent not running: the test speaks
    other = (await rig.admin.add_host("h3")).token
    inst = await running(rig, "web", "h1")
    async with raw_client(base_url=rig.url + "/api/v1/agent/hosts") as raw:
        resp = await raw.post("/h3/usage", json=report(1, figures(inst.id)),
                              headers={"Authorization": f"Bearer {other}"})
        assert resp.status_code == 403, resp.text  # bound to h1, not h3: nothing counted
        assert f"{inst.id} (web, on h1)" in resp.json()["message"]
        resp = await raw.post("/h3/usage", json=report(2), headers={
            "Authorization": f"Bearer {other}"})
        assert resp.status_code == 200, resp.text  # the refused one took no number
        resp = await raw.post("/h1/usage", json=report(3, figures(inst.id)),
                              headers={"Authorization": f"Bearer {other}"})
        assert resp.status_code == 403, resp.text  # h3's credential does not speak for h1
    shown = rig.core.store.get_usage(inst.id)
    assert shown is None or shown.host == "h1"


async def test_impossible_figures_are_refused_with_the_reason(rig: Rig) -> None:
    await rig.admin.add_host("h1")
    token = (await rig.admin.add_host("h2")).token
    cases = [
        (figures(1, disk_read_bytes=-1), "disk_read_bytes"),
        (figures(1, cpu_seconds="1.5"), "cpu_seconds"),  # a string is no figure
        (figures(1, cpu_seconds=float("inf")), "cpu_seconds"),
        (figures(1, started_at="2026-12-02T10:00:00"), "started_at"),  # no time zone
        (figures(1, net_rx_bytes=5), "net_rx_bytes"),  # rx without tx
    ]
    async with raw_client(base_url=rig.url) as raw:
        for body, named in cases:
            resp = await raw.post("/api/v1/agent/hosts/h2/usage",
                                  content=json.dumps(report(1, body)),  # Infinity too
                                  headers={"Authorization": f"Bearer {token}",
                                           "Content-Type": "application/json"})
            assert 400 <= resp.status_code < 500, (body, resp.text)
            assert named in resp.text, (body, resp.text)
