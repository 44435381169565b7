"""Prometheus metrics: the manager's /metrics and an agent's, scraped after some activity
(instances created and placed, a refused binding, API calls), checked by ``promtool
check metrics`` and against what the API says."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.metrics import MetricsServer
from tashi.agent.service import Agent
from tashi.agent.settings import AgentSettings
from tashi.api.app import create_app
from tashi.client import TashiClient
from tashi.domain.errors import Unavailable
from tashi.embedded.cluster import Cluster, ClusterConfig
from tests.integration.conftest import Rig, raw_client

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found[name, frozenset(labels.items())]


def promtool_check(text: str) -> None:
    """``promtool check metrics`` on ``text``: fails (never skips) without promtool."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install -y --no-install-recommends "
                    "prometheus (scripts/install.sh does it)")
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


async def until(check: Callable[[], Awaitable[bool]], what: str,
                timeout_s: float = 10) -> None:
    """Wait until ``await check()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def metered(rig: Rig) -> AsyncIterator[tuple[Rig, MetricsServer]]:
    """Host h1 with an agent sampling usage every 0.1 s, its metrics on loopback."""
    cred = await rig.admin.add_host("h1")
    rig.tokens["h1"] = cred.token
    rig.drivers["h1"] = FakeDriver(cores=8, memory_mib=8192)
    agent = Agent(rig.client(cred.token), "h1", rig.drivers["h1"], rig.image_dir,
                  heartbeat_interval_s=0.2, poll_wait_s=5, resync_s=0.1, report_every_s=1,
                  usage_every_s=0.1)
    await agent.heartbeat()
    rig.agents["h1"] = asyncio.create_task(agent.run())
    server = MetricsServer("127.0.0.1:0", agent.metrics.registry, host="h1")
    yield rig, server
    server.close()


async def scrape(url: str, token: str | None = None) -> str:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as raw:
        resp = await raw.get(url, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return resp.text


async def test_metrics_after_activity(metered: tuple[Rig, MetricsServer]) -> None:
    rig, server = metered
    await rig.admin.add_host("h2")  # registered, never heard: down
    auth = {"Authorization": f"Bearer {rig.admin_token}"}
    async with httpx.AsyncClient(base_url=rig.url, headers=auth, timeout=30) as raw:
        made = [(await raw.post("/api/v1/instances", json={"name": n, "image": "guest"}))
                .json() for n in ("web", "db")]
        web, db = made
        refused = await raw.post(f"/api/v1/instances/{web['id']}/bind",
                                 json={"host": "h1", "generation": 99})
        assert refused.status_code == 409, refused.text
        bound = await raw.post(f"/api/v1/instances/{web['id']}/bind",
                               json={"host": "h1", "generation": web["generation"]})
        assert bound.status_code == 200, bound.text
        for _ in range(3):
            assert (await raw.get(f"/api/v1/instances/{db['id']}/events")).status_code == 200
        assert (await raw.get("/api/v1/instances/987654/events")).status_code == 404
    await rig.wait_for(web["id"], "Running")
    agent_url = f"http://{server.url_host}/metrics"

    async def sampled() -> bool:
        return 'instance_name="web"' in await scrape(agent_url)
    await until(sampled, "the agent's metrics show web's usage")
    manager, agent = await scrape(f"{rig.url}/metrics", rig.admin_token), await scrape(agent_url)
    promtool_check(manager)
    promtool_check(agent)
    check_manager(samples(manager), [i.state for i in await rig.admin.list_instances()],
                  [h.up for h in await rig.admin.list_hosts()])
    check_agent(samples(agent), web["id"])
    for secret in (rig.admin_token, *rig.tokens.values()):
        assert secret not in manager + agent


def check_manager(found: Samples, states: list[str], ups: list[bool]) -> None:
    shown = {s: value(found, "tashi_manager_instances", state=s) for s in set(states)}
    assert shown == {"Running": 1, "Pending": 1}
    assert shown == {s: states.count(s) for s in set(states)}  # what the API lists
    assert sum(v for k, v in found.items() if k[0] == "tashi_manager_instances") == len(states)
    assert value(found, "tashi_manager_hosts", state="Normal", up="true") == ups.count(True) == 1
    assert value(found, "tashi_manager_hosts", state="Normal", up="false") == ups.count(False)
    assert 0 <= value(found, "tashi_manager_host_heartbeat_age_seconds", host="h1") < 5
    assert not [k for k in found if k[0] == "tashi_manager_host_heartbeat_age_seconds"
                and ("host", "h2") in k[1]]  # never heard
    assert value(found, "tashi_manager_placements_total") == 1
    assert value(found, "tashi_manager_placement_refusals_total", error="conflict") == 1
    assert value(found, "tashi_manager_placement_refusals_total", error="not_found") == 0
    assert value(found, "tashi_manager_scheduling_latency_seconds_count") == 1
    assert 0 < value(found, "tashi_manager_scheduling_latency_seconds_sum") < 30
    assert value(found, "tashi_manager_migration_downtime_seconds_count") == 0
    requests = "tashi_manager_http_requests_total"
    events = "/api/v1/instances/{ref}/events"
    assert value(found, requests, method="GET", route=events, status="200") == 3
    assert value(found, requests, method="GET", route=events, status="404") == 1
    bind = "/api/v1/instances/{instance_id}/bind"
    assert value(found, requests, method="POST", route=bind, status="409") == 1
    assert value(found, requests, method="POST", route=bind, status="200") == 1
    assert value(found, "tashi_manager_http_request_duration_seconds_count", method="GET",
                 route=events) == 4
    routes = {dict(k[1])["route"] for k in found if k[0] == requests}
    assert all(r.startswith("/") and not any(c.isdigit() for c in r.removeprefix("/api/v1"))
               for r in routes), routes  # templates: no id asked for is a label


def check_agent(found: Samples, web: int) -> None:
    labels = {"instance_id": str(web), "instance_name": "web"}
    assert value(found, "tashi_agent_instance_cpu_seconds_total", **labels) > 0
    assert value(found, "tashi_agent_instance_memory_rss_bytes", **labels) == 64 * 1024 * 1024
    assert value(found, "tashi_agent_instance_disk_read_bytes_total", **labels) > 0
    assert value(found, "tashi_agent_instance_network_receive_bytes_total", **labels) > 0
    assert value(found, "tashi_agent_instance_cpu_seconds_created", **labels) > 0
    for call in ("heartbeat", "watch", "report"):
        assert value(found, "tashi_agent_manager_call_failures_total", call=call) == 0


async def test_metrics_readers(rig: Rig) -> None:
    """Admins and the scrape token read /metrics; no one else, and the scrape token opens
    nothing else."""
    app = create_app(rig.core, metrics_token=SecretStr("the scrape token"))
    user = await rig.admin.add_user("alice", "user")
    agent = (await rig.admin.add_host("h1")).token
    async with raw_client(transport=httpx.ASGITransport(app=app),
                                 base_url="http://manager") as raw:
        async def status(token: str | None, path: str = "/metrics") -> int:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            return (await raw.get(path, headers=headers)).status_code

        assert await status("the scrape token") == 200
        assert await status(rig.admin_token) == 200
        assert await status(None) == 401
        assert await status("the scrape token!") == 401
        assert await status(user.token) == 403
        assert await status(agent) == 403
        assert await status("the scrape token", "/api/v1/instances") == 401
        assert await status("the scrape token", "/api/v1/hosts") == 401


async def test_agent_counts_failed_heartbeats(rig: Rig) -> None:
    """A manager that cannot be reached: the heartbeat fails, and is counted."""
    async with TashiClient("http://127.0.0.1:9", "tashi_a-token") as nowhere:
        agent = Agent(nowhere, "h1", FakeDriver(), rig.image_dir)
        with pytest.raises(Unavailable):
            await agent.heartbeat()
    registry = agent.metrics.registry
    assert registry.get_sample_value("tashi_agent_manager_call_failures_total",
                                     {"call": "heartbeat"}) == 1
    assert registry.get_sample_value("tashi_agent_manager_call_failures_total",
                                     {"call": "report"}) == 0


def test_metrics_listen_setting() -> None:
    assert AgentSettings(metrics_listen="").metrics_listen == ""
    assert AgentSettings(metrics_listen="[::1]:9470").metrics_listen == "[::1]:9470"
    for bad in ("127.0.0.1", "127.0.0.1:http", ":9470", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="is not ADDRESS:PORT"):
            AgentSettings(metrics_listen=bad)


async def test_tashi_up_serves_its_agents_metrics_with_the_managers(tmp_path: Path) -> None:
    """One process, one registry: the manager's /metrics shows the agent's figures too."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cluster = Cluster(ClusterConfig(data_dir=tmp_path / "data", port=port, driver="fake",
                                    heartbeat_interval_s=1))
    ready = asyncio.Event()
    task = asyncio.create_task(cluster.run(ready=ready, handle_signals=False))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        assert cluster.admin_token is not None
        text = await scrape(f"{cluster.config.url}/metrics", cluster.admin_token)
    finally:
        cluster.stop()
        await asyncio.wait_for(task, 30)
    promtool_check(text)
    found = samples(text)
    assert value(found, "tashi_manager_hosts", state="Normal", up="true") == 1
    assert value(found, "tashi_agent_manager_call_failures_total", call="heartbeat") == 0
