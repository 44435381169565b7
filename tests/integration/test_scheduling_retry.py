"""Failed starts: Held, then retried with backoff elsewhere, avoiding the failing host;
after the last attempt, Held for good with the reason."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from tashi.agent.drivers.base import VmRequest
from tashi.agent.drivers.fake import FakeDriver
from tashi.api.app import create_app
from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.cmd.cli import main
from tashi.common.clock import SystemClock
from tashi.domain.models import ImageFormat, Visibility
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.manager.retry import RetryPolicy
from tashi.scheduler.service import Scheduler
from tashi.store.base import NewImage
from tashi.store.sql import open_store
from tests.integration.conftest import Rig, _Server, stop_rig

FAST = RetryPolicy(backoff_s=0.1, max_backoff_s=0.2, avoid_s=60, max_attempts=3)


async def start(tmp_path: Path, policy: RetryPolicy) -> tuple[Rig, _Server, asyncio.Task[None]]:
    """The conftest's rig and a scheduler, with a fast retry policy."""
    store = open_store(f"sqlite:///{tmp_path}/tashi.db")
    token = ensure_admin(store)
    assert token
    ensure_default_network(store)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "guest").write_bytes(b"\0" * 1024)
    store.create_image(NewImage("guest", "admin", ImageFormat.RAW, 1024, 1024,
                                         visibility=Visibility.PUBLIC))
    core = ManagerCore.build(store, SystemClock(), image_dir=tmp_path / "images",
                             heartbeat_timeout_s=1.0, join_token=None, max_wait_s=5)
    app = create_app(core, liveness_interval_s=0.2, retry=policy, retry_interval_s=0.05)
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                    lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    rig = Rig(core=core, url=url, admin=TashiClient(url, token), admin_token=token,
              image_dir=tmp_path / "images")
    return rig, server, serving


@pytest.fixture
async def retrying(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    policy = getattr(request, "param", FAST)
    rig, server, serving = await start(tmp_path, policy)
    task = asyncio.create_task(Scheduler(rig.client(rig.admin_token), poll_wait_s=5).run())
    yield rig
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await stop_rig(rig, server, serving)


def broken(reason: str) -> FakeDriver:
    def fail(request: VmRequest) -> str:
        return reason

    return FakeDriver(cores=8, memory_mib=16384, fail_start=fail)  # spread prefers it


async def test_held_instance_is_retried_elsewhere_avoiding_the_failing_host(
        retrying: Rig) -> None:
    await retrying.add_host("bad", broken("disk on fire"))
    good = await retrying.add_host("good")
    flags = ["--url", retrying.url, "--token", retrying.admin_token]
    created = await asyncio.to_thread(CliRunner().invoke, main, [
        *flags, "vm", "create", "phoenix", "--image", "guest", "--wait", "--timeout", "20"])
    assert created.exit_code == 0, created.output  # --wait waits through the retry
    assert created.stdout.splitlines()[1].split()[1:3] == ["phoenix", "Running"]
    inst = running = await retrying.admin.get_instance("phoenix")
    assert running.host == "good"
    assert good.starts == 1
    assert running.attempts == 1
    assert [(f.host, f.reason) for f in running.failures] == [
        ("bad", "start failed: instance 1 (phoenix): disk on fire")]
    (avoided,) = running.avoid
    assert avoided.host == "bad"
    assert avoided.until - running.failures[0].at == timedelta(seconds=60)
    events = [e.message for e in await retrying.admin.events(inst.id)]
    assert any("Activating -> Held" in m and "disk on fire" in m for m in events), events
    assert any("Held -> Pending: try 2 of 3, avoiding host bad" in m for m in events), events
    shown = await asyncio.to_thread(CliRunner().invoke, main, [*flags, "vm", "show", "phoenix"])
    assert "failed starts:" in shown.stdout
    assert "the last on host bad" in shown.stdout
    assert re.search(r"avoided hosts: +bad \(for ", shown.stdout), shown.stdout


@pytest.mark.parametrize("retrying", [RetryPolicy(backoff_s=0.6, avoid_s=60, max_attempts=3)],
                         indirect=True)
async def test_while_backing_off_the_status_says_when(retrying: Rig) -> None:
    await retrying.add_host("bad", broken("no luck"))
    inst = await retrying.admin.create_instance(InstanceCreate(name="later", image="guest"))
    held = await retrying.wait_for(inst.id, "Held")
    assert held.retry_at is not None  # a retry is coming: --wait keeps waiting
    deadline = asyncio.get_running_loop().time() + 5
    while "try 2 of 3 at" not in held.message:
        assert asyncio.get_running_loop().time() < deadline, held
        await asyncio.sleep(0.02)
        held = await retrying.admin.get_instance(inst.id)
    assert held.state == "Held"
    assert held.retry_at == held.failures[0].at + timedelta(seconds=0.6)
    await retrying.wait_for(inst.id, "Pending")
    # a scheduler pass: bad is avoided, no other host
    pending = await retrying.wait_pending(inst.id, "avoiding host bad after a failed start")
    assert pending.retry_at is None


@pytest.mark.parametrize("retrying", [RetryPolicy(backoff_s=0.05, max_backoff_s=0.1,
                                                  avoid_s=0, max_attempts=3)],
                         indirect=True)
async def test_after_the_last_attempt_it_stays_held_with_the_reason(retrying: Rig) -> None:
    driver = await retrying.add_host("bad", broken("cursed"))
    inst = await retrying.admin.create_instance(InstanceCreate(name="doomed", image="guest"))
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        held = await retrying.admin.get_instance(inst.id)
        if held.state == "Held" and held.message.startswith("gave up"):
            break
        assert asyncio.get_running_loop().time() < deadline, held
        await asyncio.sleep(0.05)
    assert held.attempts == 3
    assert held.retry_at is None
    assert held.message == ("gave up after 3 failed starts; the last, on host bad: "
                            "start failed: instance 1 (doomed): cursed")
    await asyncio.sleep(0.3)
    assert (await retrying.admin.get_instance(inst.id)).state == "Held"
    assert driver.starts == 0
