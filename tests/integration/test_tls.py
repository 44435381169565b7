"""`tashi up --tls`: HTTPS with a private CA; agents, the scheduler and the CLI verify it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.cmd.cli import main as tashi
from tashi.domain.errors import Unavailable
from tashi.embedded.cluster import Cluster, ClusterConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def tls_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    cluster = Cluster(ClusterConfig(data_dir=tmp_path / "data", port=free_port(),
                                    driver="fake", tls=True, heartbeat_interval_s=1))
    ready = asyncio.Event()
    task = asyncio.create_task(cluster.run(ready=ready, handle_signals=False))
    await asyncio.wait_for(ready.wait(), 30)
    yield cluster
    cluster.stop()
    await asyncio.wait_for(task, 30)


async def test_cluster_works_over_verified_https(tls_cluster: Cluster) -> None:
    cfg = tls_cluster.config
    assert cfg.url.startswith("https://")
    async with TashiClient(cfg.url, tls_cluster.admin_token, verify=str(cfg.ca_file)) as c:
        hosts = await c.list_hosts()
        assert [h.up for h in hosts] == [True]  # the agent got in over TLS
        await c.upload_image("img", _one_chunk(b"\0" * 4096))
        await c.create_instance(InstanceCreate(name="secure", image="img"))
        for _ in range(100):  # the scheduler and agent (fake driver) also speak TLS
            if (await c.get_instance("secure")).state == "Running":
                break
            await asyncio.sleep(0.1)
        assert (await c.get_instance("secure")).state == "Running"


async def test_unverified_or_plain_clients_are_refused(tls_cluster: Cluster) -> None:
    cfg = tls_cluster.config
    async with TashiClient(cfg.url, tls_cluster.admin_token) as system_cas_only:
        with pytest.raises(Unavailable, match="cannot reach the manager"):
            await system_cas_only.list_hosts()
    plain = cfg.url.replace("https://", "http://")
    async with TashiClient(plain, tls_cluster.admin_token) as cleartext:
        with pytest.raises(Unavailable):
            await cleartext.list_hosts()


async def test_cli_verifies_with_tashi_ca(tls_cluster: Cluster) -> None:
    cfg = tls_cluster.config
    env = {"TASHI_URL": cfg.url, "TASHI_TOKEN": str(tls_cluster.admin_token),
           "TASHI_CA": str(cfg.ca_file), "XDG_CONFIG_HOME": str(cfg.data_dir / "no-config")}
    ok = await asyncio.to_thread(CliRunner().invoke, tashi, ["host", "list"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "yes" in ok.output
    env.pop("TASHI_CA")
    bad = await asyncio.to_thread(CliRunner().invoke, tashi, ["host", "list"], env=env)
    assert bad.exit_code == 6
    assert len(bad.output.strip().splitlines()) == 1


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data
