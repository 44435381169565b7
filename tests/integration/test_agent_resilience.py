"""The agents' long poll, and daemons that start before the manager or with a refused token.

The long poll is called through the API (no agent), so its timing is the manager's
alone; the daemons' refusals run the real commands (``tashi-agent``,
``tashi-scheduler``) in a subprocess, to check their one line and exit code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from tashi import __version__
from tashi.agent.process import run_agent
from tashi.agent.settings import AgentSettings
from tashi.api.app import create_app
from tashi.api.schemas import BindIn, HeartbeatIn, InstanceCreate
from tashi.client import TashiClient
from tashi.common.subprocesses import communicate
from tashi.domain.models import ImageFormat, Visibility
from tashi.scheduler.service import Scheduler
from tashi.store.base import NewImage
from tests.integration.conftest import Rig, _Server, start_rig, stop_rig

WAIT_S = 5.0  # the long poll's wait (start_rig lets the manager hold a poll 5 s)
BIN = Path(sys.executable).parent


@pytest.fixture
async def quiet_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A manager with host h1 up (one heartbeat, no agent: nothing else changes it),
    an image, and instance ``web`` Pending."""
    rig, server, serving = await start_rig(tmp_path)
    try:
        (rig.image_dir / "guest").write_bytes(b"\0" * 1024)
        rig.core.store.create_image(NewImage("guest", "admin", ImageFormat.RAW, 1024, 1024,
                                         visibility=Visibility.PUBLIC))
        rig.tokens["h1"] = (await rig.admin.add_host("h1")).token
        await rig.client(rig.tokens["h1"]).heartbeat("h1", HeartbeatIn(
            cores=8, memory_mib=8192, agent_version=__version__, hypervisor="fake"))
        await rig.admin.create_instance(InstanceCreate.model_validate(
            {"name": "web", "image": "guest"}))
        yield rig
    finally:
        await stop_rig(rig, server, serving)


async def test_long_poll_answers_soon_after_a_binding(quiet_rig: Rig) -> None:
    agent = quiet_rig.client(quiet_rig.tokens["h1"])
    now = await agent.desired("h1", None, 0)
    assert now.instances == []
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(agent.desired("h1", now.revision, WAIT_S))
    await asyncio.sleep(0.5)
    assert not poll.done()  # waiting: nothing changed yet
    web = await quiet_rig.admin.get_instance("web")
    await quiet_rig.admin.bind(web.id, BindIn(host="h1", generation=web.generation))
    answer = await poll
    assert loop.time() - started < 2.5
    assert answer.revision != now.revision
    assert [d.name for d in answer.instances] == ["web"]


async def test_long_poll_waits_its_time_when_nothing_changes(quiet_rig: Rig) -> None:
    agent = quiet_rig.client(quiet_rig.tokens["h1"])
    now = await agent.desired("h1", None, 0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await agent.desired("h1", now.revision, WAIT_S)
    assert loop.time() - started >= WAIT_S - 1.0
    assert answer.revision == now.revision
    assert answer.instances == []


@pytest.mark.parametrize("credential", ["token", "join token"])
async def test_agent_started_before_the_manager_joins_it_later(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, credential: str) -> None:
    rig, server, serving = await start_rig(tmp_path, heartbeat_timeout_s=1.0,
                                           join_token="s3cret-join")
    port = server.servers[0].sockets[0].getsockname()[1]
    token = (await rig.admin.add_host("late")).token if credential == "token" else None
    server.should_exit = True  # the manager goes down; its store stays
    await serving
    settings = AgentSettings.model_validate({
        "manager_url": rig.url, "host": "late", "state_dir": tmp_path / "agent",
        "driver": "fake", "heartbeat_interval_s": 0.2, "poll_wait_s": WAIT_S,
        "token" if token else "join_token": token or "s3cret-join"})
    caplog.set_level(logging.WARNING, logger="tashi.agent.service")
    agent = asyncio.create_task(run_agent(settings))
    try:
        await asyncio.sleep(2.0)
        assert not agent.done()  # still trying, not stopped
        what = "heartbeat" if token else "join request"
        failures = [r.getMessage() for r in caplog.records if r.name == "tashi.agent.service"]
        assert failures
        assert all(f"host late: {what} to the manager at {rig.url} failed" in m
                   for m in failures)
        assert "s3cret-join" not in caplog.text
        server = _Server(uvicorn.Config(create_app(rig.core, liveness_interval_s=0.2),
                                        host="127.0.0.1", port=port, log_config=None,
                                        lifespan="on"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        await _until_up(rig, "late", timeout_s=10)
        await asyncio.sleep(1.5)  # longer than the heartbeat timeout: heartbeats go on
        (late,) = await rig.admin.list_hosts()
        assert late.up
        assert late.hypervisor == "fake (simulation)"
        assert not agent.done()
    finally:
        agent.cancel()
        await asyncio.gather(agent, return_exceptions=True)
        await stop_rig(rig, server, serving)


async def _until_up(rig: Rig, host: str, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if any(h.name == host and h.up for h in await rig.admin.list_hosts()):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"host {host} not up after {timeout_s} s")


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Rig]:
    rig, server, serving = await start_rig(tmp_path, join_token="s3cret-join")
    yield rig
    await stop_rig(rig, server, serving)


async def _run(command: str, args: list[str], env: dict[str, str], cwd: Path
               ) -> tuple[int, list[str]]:
    """Run one of Tashi's commands; its exit code and stderr lines."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
    proc = await asyncio.create_subprocess_exec(
        str(BIN / command), *args, env={**clean, **env}, cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await communicate(proc, 30)
    assert proc.returncode is not None
    return proc.returncode, err.decode().splitlines()


def _one_error_line(lines: list[str]) -> str:
    errors = [line for line in lines if line.startswith("tashi:")]
    assert len(errors) == 1, lines
    assert lines[-1] == errors[0]
    return errors[0]


async def test_agent_with_a_refused_credential_stops(running: Rig, tmp_path: Path) -> None:
    args = ["--manager-url", running.url, "--host", "h1", "--driver", "fake",
            "--state-dir", str(tmp_path / "agent")]
    code, lines = await _run("tashi-agent", args, {"TASHI_AGENT_TOKEN": "not-a-credential"},
                             tmp_path)
    assert code == 3
    assert _one_error_line(lines) == (
        f"tashi: host h1: the manager at {running.url} refused this host's credential "
        "(unknown or revoked); the credential was given in TASHI_AGENT_TOKEN")
    assert "not-a-credential" not in "\n".join(lines)


async def test_agent_with_a_wrong_join_token_stops(running: Rig, tmp_path: Path) -> None:
    args = ["--manager-url", running.url, "--host", "h2", "--driver", "fake",
            "--state-dir", str(tmp_path / "agent")]
    code, lines = await _run("tashi-agent", args, {"TASHI_AGENT_JOIN_TOKEN": "wrong-join"},
                             tmp_path)
    assert code == 3
    assert _one_error_line(lines) == (
        f"tashi: host h2: the manager at {running.url} refused the join: wrong join token")
    assert "wrong-join" not in "\n".join(lines)
    assert await running.admin.list_hosts() == []


@pytest.mark.parametrize("whose", ["user", "nobody"])
async def test_scheduler_with_a_refused_token_stops(running: Rig, tmp_path: Path,
                                                    whose: str) -> None:
    token = ((await running.admin.add_user("bob", "user")).token if whose == "user"
             else "not-a-token")
    assert token
    code, lines = await _run("tashi-scheduler", ["--manager-url", running.url],
                             {"TASHI_TOKEN": token}, tmp_path)
    assert code == 3
    why = ("refused the scheduler's token: it is not an admin's (user bob is not an admin)"
           if whose == "user" else "refused the scheduler's token (unknown, expired or revoked)")
    assert _one_error_line(lines) == f"tashi: the manager at {running.url} {why}"
    assert token not in "\n".join(lines)


async def test_scheduler_keeps_trying_an_unreachable_manager(
        caplog: pytest.LogCaptureFixture) -> None:
    """No manager at all: the scheduler logs each failed attempt, waits longer each
    time, and keeps trying."""
    url = "http://127.0.0.1:9"  # the discard port: nothing listens there
    caplog.set_level(logging.WARNING, logger="tashi.scheduler.service")
    async with TashiClient(url, "any") as client:
        task = asyncio.create_task(Scheduler(client, manager_url=url).run())
        await asyncio.sleep(1.5)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    failures = [r.getMessage() for r in caplog.records if r.name == "tashi.scheduler.service"]
    assert len(failures) == 2
    assert all(f"snapshot from the manager at {url} failed" in m for m in failures)
    assert failures[0].endswith("retrying in 1 s (sooner if it answers again)")
    assert failures[1].endswith("retrying in 2 s (sooner if it answers again)")
