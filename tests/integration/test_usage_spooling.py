"""Agents' usage reports through the real API, with the manager unreachable, answers
lost and agents restarted: every report is counted once, so what the records hold is
exactly what the VM's counters say it used."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from sqlalchemy import func, select

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.service import Agent
from tashi.client import TashiClient
from tashi.store.sql import SqlStore
from tashi.store.sql.tables import UsageRecordRow, UsageSenderRow
from tests.integration.conftest import Rig
from tests.integration.test_usage import Clock, running


class Flaky(httpx.AsyncBaseTransport):
    """The manager as an agent's usage reports find it: ``up``, ``down`` (unreachable),
    or ``lost`` (a report reaches it, its answer never comes back)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.mode = "up"
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        usage = request.url.path.endswith("/usage")
        if usage and self.mode == "down":
            raise httpx.ConnectError("connection refused (the test)", request=request)
        response = await self.inner.handle_async_request(request)
        if usage:
            self.sent += 1
            if self.mode == "lost":
                await response.aread()
                raise httpx.ReadError("connection reset (the test)", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def metered(rig: Rig, name: str, clock: Clock, spool: Path, flaky: Flaky, *,
                  every_s: float = 0.05, driver: FakeDriver | None = None) -> FakeDriver:
    """Host ``name``'s agent (a fake driver on ``clock``), its reports spooled in ``spool``
    and sent through ``flaky``."""
    if name not in rig.tokens:
        rig.tokens[name] = (await rig.admin.add_host(name)).token
    driver = rig.drivers[name] = driver or FakeDriver(cores=8, memory_mib=8192, clock=clock)
    client = TashiClient(rig.url, rig.tokens[name], transport=flaky)
    rig.clients.append(client)
    agent = Agent(client, name, driver, rig.image_dir, heartbeat_interval_s=0.2,
                  poll_wait_s=5, resync_s=0.1, report_every_s=1, usage_every_s=every_s,
                  usage_spool=spool)
    await agent.heartbeat()
    rig.agents[name] = asyncio.create_task(agent.run())
    return driver


def counted_cpu(rig: Rig, instance_id: int) -> float:
    store = rig.core.store
    assert isinstance(store, SqlStore)
    with store._read.begin() as s:
        return float(s.scalar(select(func.coalesce(func.sum(UsageRecordRow.cpu_seconds_used),
                                                   0.0))
                              .where(UsageRecordRow.instance_id == instance_id)) or 0.0)


def waiting(spool: Path) -> int:
    return sum(1 for p in spool.glob("*.json") if p.stem.isdigit())


async def until(check: object, what: str, timeout_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (check() if callable(check) else check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.02)


async def test_reports_made_while_the_manager_was_away_are_counted_once(
        rig: Rig, tmp_path: Path) -> None:
    clock, flaky, spool = Clock(), Flaky(), tmp_path / "spool"
    await metered(rig, "h1", clock, spool, flaky)
    inst = await running(rig, "web", "h1")  # 2 cores, half busy: 1 CPU second a second
    flaky.mode = "down"
    for _ in range(4):
        clock.now += 5
        before = waiting(spool)
        await until(lambda b=before: waiting(spool) > b, "a report spooled")
    clock.now += 5
    flaky.mode = "up"
    await until(lambda: waiting(spool) == 0, "the spool emptied")
    latest = rig.core.store.get_usage(inst.id)
    assert latest is not None
    assert latest.usage.cpu_seconds == 25.0
    assert counted_cpu(rig, inst.id) == 25.0  # each report's part once: the whole


async def test_a_report_whose_answer_was_lost_is_sent_again_and_counted_once(
        rig: Rig, tmp_path: Path) -> None:
    clock, flaky, spool = Clock(), Flaky(), tmp_path / "spool"
    await metered(rig, "h1", clock, spool, flaky)
    inst = await running(rig, "web", "h1")
    flaky.mode = "lost"
    clock.now += 7
    sent = flaky.sent
    await until(lambda: flaky.sent >= sent + 3, "the same reports sent again")
    flaky.mode = "up"
    await until(lambda: waiting(spool) == 0, "the spool emptied")
    assert counted_cpu(rig, inst.id) == 7.0


async def test_an_agent_restarted_sends_what_its_spool_holds_numbered_on(
        rig: Rig, tmp_path: Path) -> None:
    clock, flaky, spool = Clock(), Flaky(), tmp_path / "spool"
    driver = await metered(rig, "h1", clock, spool, flaky)
    inst = await running(rig, "web", "h1")
    flaky.mode = "down"
    clock.now += 3
    await until(lambda: waiting(spool) >= 2, "reports spooled")
    await rig.stop_agent("h1")  # the VM runs on (the fake driver keeps it)
    clock.now += 4
    flaky.mode = "up"
    await metered(rig, "h1", clock, spool, flaky, driver=driver)
    await until(lambda: waiting(spool) == 0 and counted_cpu(rig, inst.id) == 7.0,
                "everything counted")
    store = rig.core.store
    assert isinstance(store, SqlStore)
    with store._read.begin() as s:
        row = s.scalars(select(UsageSenderRow)).one()
    assert row.last_seq >= 3  # numbered on from the spool's own, none refused as stale


async def test_a_vm_destroyed_between_reports_has_its_last_figures_counted(
        rig: Rig, tmp_path: Path) -> None:
    clock, flaky = Clock(), Flaky()
    await metered(rig, "h1", clock, tmp_path / "spool", flaky, every_s=3600)
    inst = await running(rig, "web", "h1")
    clock.now += 100  # no periodic report in between: only the one before it ends
    await rig.admin.destroy_instance(inst.id)
    await rig.wait_gone(inst.id)
    assert counted_cpu(rig, inst.id) == 100.0
