"""The agent's usage sampler (one request per sample; a hung VM left out, never waited
for), the figures' own checks, and how ``tashi vm show`` words them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tashi.agent.drivers.base import Metered
from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.usage import UsageSampler
from tashi.api.schemas import UsageOut
from tashi.cli.usagefigures import usage_fields
from tashi.client import TashiClient
from tashi.domain.errors import DriverError
from tashi.domain.usage import NET_NOT_MEASURED, VmUsage

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def figures(cpu_seconds: float, **changes: object) -> VmUsage:
    base: dict[str, object] = {"started_at": START, "cpu_seconds": cpu_seconds,
                               "memory_rss_bytes": 100 << 20, "disk_read_bytes": 1,
                               "disk_written_bytes": 2}
    return VmUsage(**{**base, **changes})  # type: ignore[arg-type]


class Driver:
    """Instance 1 measures at once, 2 hangs, 3 fails, 4 has no process."""

    async def usage(self, instance_id: int) -> VmUsage | None:
        if instance_id == 2:
            await asyncio.sleep(3600)
        if instance_id == 3:
            raise DriverError("instance 3: cannot measure its usage: QMP said no")
        return figures(1.5) if instance_id == 1 else None


def sampler(bodies: list[dict[str, object]], status: int | list[int] = 200,
            ids: tuple[int, ...] = (4, 3, 2, 1)) -> UsageSampler:
    """``status``: what the manager answers (a list: what its first item says now)."""
    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append({"path": request.url.path, **json.loads(request.content)})
        now = status if isinstance(status, int) else status[0]
        return httpx.Response(now, json={"kept": 1, "ignored": 0} if now == 200 else
                              {"error": "unavailable" if now == 503 else "conflict",
                               "message": "the store is busy"})

    client = TashiClient("http://manager", "t", transport=httpx.MockTransport(answer))
    return UsageSampler(client, "h1", Driver(), lambda: ids, every_s=0.01,
                        measure_timeout_s=0.2)


def test_the_qemu_and_fake_drivers_are_metered(tmp_path: Path) -> None:
    from tashi.agent.drivers.qemu.accel import Accelerator
    from tashi.agent.drivers.qemu.driver import QemuDriver

    assert isinstance(FakeDriver(), Metered)
    assert isinstance(QemuDriver(tmp_path, Accelerator.TCG), Metered)


async def test_one_request_carries_every_vm_measured_and_a_hung_one_is_left_out() -> None:
    bodies: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await sampler(bodies).send_sample() == 1
    assert loop.time() - began < 1.5  # the hung VM cost its timeout, not an hour
    (body,) = bodies
    assert body["path"] == "/api/v1/agent/hosts/h1/usage"
    instances = body["instances"]
    assert isinstance(instances, list)
    (sent,) = instances
    assert sent["id"] == 1
    assert sent["cpu_seconds"] == 1.5
    assert sent["net_rx_bytes"] is None
    assert sent["net_tx_bytes"] is None


async def test_a_failed_send_waits_and_goes_before_the_next_in_order() -> None:
    bodies: list[dict[str, object]] = []
    statuses = [503]
    down = sampler(bodies, status=statuses)
    assert await down.send_sample() == 0
    assert {b["seq"] for b in bodies} == {1}  # tried (the client may retry a 503)
    statuses[0] = 200
    bodies.clear()
    assert await down.send_sample() == 2
    assert [b["seq"] for b in bodies] == [1, 2]  # the one kept first, then the new one
    sender = bodies[0]["sender"]
    assert isinstance(sender, str)
    assert sender == bodies[1]["sender"]


async def test_a_report_counted_already_is_not_sent_again() -> None:
    bodies: list[dict[str, object]] = []
    statuses = [409]
    stale = sampler(bodies, status=statuses)
    assert await stale.send_sample() == 1  # answered: counted before, it goes
    statuses[0] = 200
    bodies.clear()
    assert await stale.send_sample() == 1
    assert [b["seq"] for b in bodies] == [2]


async def test_nothing_to_measure_sends_nothing() -> None:
    bodies: list[dict[str, object]] = []
    assert await sampler(bodies, ids=(4,)).send_sample() == 0  # a VM without a process
    assert bodies == []


def test_impossible_figures_say_why() -> None:
    assert figures(1.0).problems() == []
    assert figures(1.0, net_rx_bytes=5, net_tx_bytes=6).problems() == []
    found = figures(-1.0, disk_read_bytes=-2, net_rx_bytes=5,
                    started_at=START.replace(tzinfo=None)).problems()
    assert found == ["started_at has no time zone",
                     "cpu_seconds -1.0 is not a finite figure >= 0",
                     "disk_read_bytes -2 is negative",
                     "net_rx_bytes and net_tx_bytes are measured together or not at all"]
    assert figures(float("nan")).problems() == [
        "cpu_seconds nan is not a finite figure >= 0"]


async def test_the_fake_drivers_figures_grow_with_its_clock() -> None:
    from tashi.agent.drivers.base import NicPlan, VmRequest

    now = [100.0]
    driver = FakeDriver(clock=lambda: now[0])
    await driver.start(VmRequest(1, "web", 2, 512, (), (NicPlan("52:54:00:00:00:01",
                                                                  "virtio", "user"),)))
    first = await driver.usage(1)
    now[0] += 4
    second = await driver.usage(1)
    assert first is not None
    assert second is not None
    assert (first.cpu_seconds, second.cpu_seconds) == (0.0, 4.0)
    assert second.disk_read_bytes == 4 << 20
    assert second.net_tx_bytes == 4 * 64 * 1024
    assert second.started_at == first.started_at
    await driver.stop(1, 1)
    assert await driver.usage(1) is None  # no process, no figures
    assert await driver.usage(99) is None


def shown(**changes: object) -> UsageOut:
    base: dict[str, object] = {
        "host": "h1", "at": START + timedelta(minutes=5), "started_at": START,
        "cpu_seconds": 12.345, "memory_rss_bytes": 87 << 20, "disk_read_bytes": 12 << 20,
        "disk_written_bytes": 3 << 10, "net_rx_bytes": None, "net_tx_bytes": None}
    return UsageOut.model_validate({**base, **changes})


def test_vm_show_words_the_figures() -> None:
    now = START + timedelta(minutes=5, seconds=3)
    assert dict(usage_fields(shown(), now)) == {
        "usage": "measured 3s ago on host h1, counted since its process started 5m ago",
        "  cpu": "12.3 s", "  memory": "87 MiB resident", "  disk": "12 MiB read, 3.0 KiB "
        "written", "  network": NET_NOT_MEASURED}
    assert dict(usage_fields(shown(net_rx_bytes=2048, net_tx_bytes=10), now))[
        "  network"] == "2.0 KiB received, 10 B sent"
    assert usage_fields(None) == [("usage", "not measured yet")]


@pytest.mark.parametrize("every_s", [0.0, -1.0, float("inf")])
def test_the_sampling_period_must_be_a_positive_figure(every_s: float) -> None:
    from pydantic import ValidationError

    from tashi.agent.settings import AgentSettings

    with pytest.raises(ValidationError, match="usage_every_s"):
        AgentSettings(usage_every_s=every_s)
