"""`tashi up --hosts 3`: three hosts on one machine, each agent (and so each of its VMs'
QEMU) in a network namespace of its own on a LAN namespace of the cluster; Ctrl-C
removes the namespaces and leaves the VMs running; the next `tashi up --hosts 3`
re-adopts them on the same hosts, in the same namespaces. Needs root."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.embedded.netns import cluster_id
from tests.e2e.conftest import BIN, Proc, free_port, qemu_pids, wait_state

pytestmark = pytest.mark.e2e

HOSTS = ("h1", "h2", "h3")


@dataclass
class HostsRun:
    """The data directory of a `tashi up --hosts 3` and the processes started on it."""

    data: Path
    port: int = field(default_factory=free_port)
    procs: list[Proc] = field(default_factory=list)

    @property
    def cid(self) -> str:
        return cluster_id(self.data)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> Proc:
        proc = Proc([str(BIN / "tashi"), "up", "--hosts", str(len(HOSTS)), "--data-dir",
                     str(self.data), "--port", str(self.port)],
                    self.data.parent / f"up-{len(self.procs)}.log", {}).start()
        self.procs.append(proc)
        return proc

    def namespaces(self) -> list[str]:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             check=True).stdout
        return sorted(line.split()[0] for line in out.splitlines()
                      if line.startswith(f"tashi-{self.cid}-"))

    def host_dir(self, host: str) -> Path:
        return self.data / "hosts" / host


@pytest.fixture
def hosts_run(tmp_path: Path) -> Iterator[HostsRun]:
    """A run whose processes, VMs and namespaces are gone afterwards, pass or fail."""
    if os.geteuid() != 0:
        pytest.fail("tashi up --hosts needs root (network namespaces)")
    run = HostsRun(tmp_path / "data")
    try:
        yield run
    finally:
        for proc in run.procs:
            proc.stop()
        for pidfile in [*run.data.glob("hosts/*/agent.pid"),
                        *run.data.glob("hosts/*/qemu/instances/*/qemu.pid")]:
            with contextlib.suppress(ValueError, OSError):
                pid = int(pidfile.read_text().strip())
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"tashi.cmd.agent" in argv or str(run.data).encode() in argv:
                    os.kill(pid, signal.SIGKILL)  # ours, not a process reusing the PID
        for name in run.namespaces():
            subprocess.run(["ip", "netns", "del", name], check=False)


async def wait_hosts(run: HostsRun, proc: Proc) -> TashiClient:
    deadline = time.monotonic() + 90
    token_file = run.data / "admin.token"
    while time.monotonic() < deadline:
        assert proc.popen, proc.argv
        assert proc.popen.poll() is None, proc.output()
        if token_file.exists() and token_file.read_text().strip():
            client = TashiClient(run.url, token_file.read_text().strip())
            with contextlib.suppress(Exception):
                hosts = await client.list_hosts()
                if sorted(h.name for h in hosts if h.up) == list(HOSTS):
                    return client
            await client.aclose()
        await asyncio.sleep(0.3)
    raise AssertionError(f"hosts {HOSTS} never came up:\n{proc.output()}\n" +
                         "\n".join(_agent_logs(run)))


def _agent_logs(run: HostsRun) -> list[str]:
    return [f"--- {log}:\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(run.data.glob("hosts/*/agent.log"))]


def root_links() -> str:
    """``ip -o link`` of the root namespace."""
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                          check=True).stdout


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie has an empty cmdline)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


def netns_inode(path: str) -> int:
    return os.stat(path).st_ino


def assert_in_host_namespace(run: HostsRun, pid: int, host: str) -> None:
    assert netns_inode(f"/proc/{pid}/ns/net") == netns_inode(
        f"/run/netns/tashi-{run.cid}-{host}"), (pid, host)


async def test_three_hosts_in_namespaces_and_readopted(hosts_run: HostsRun,
                                                       guest_image: Path) -> None:
    run = hosts_run
    first = run.up()
    client = await wait_hosts(run, first)
    try:
        assert run.namespaces() == sorted(
            [f"tashi-{run.cid}-lan", *(f"tashi-{run.cid}-{h}" for h in HOSTS)])
        for host in HOSTS:  # each agent runs in its host's namespace
            agent_pid = int((run.host_dir(host) / "agent.pid").read_text())
            assert_in_host_namespace(run, agent_pid, host)
            assert (run.host_dir(host) / "agent.log").stat().st_mode & 0o777 == 0o600
        await client.upload_image("guest", _chunks(guest_image))
        ids = {}
        for host in HOSTS:
            inst = await client.create_instance(
                InstanceCreate(name=f"vm-{host}", image="guest", host=host))
            ids[host] = inst.id
        pids = {}
        for host, inst_id in ids.items():
            inst = await wait_state(client, inst_id, "Running")
            assert inst.host == host
            [pids[host]] = qemu_pids(inst_id, run.host_dir(host))
            assert_in_host_namespace(run, pids[host], host)

        assert first.popen
        first.popen.send_signal(signal.SIGINT)  # Ctrl-C
        assert first.popen.wait(60) == 0, first.output()
        assert run.namespaces() == []  # the hosts' names and the LAN (with its bridge)
        assert run.cid not in root_links()  # nothing was ever in the root namespace
        for host, inst_id in ids.items():  # the VMs keep running, in their namespaces
            assert qemu_pids(inst_id, run.host_dir(host)) == [pids[host]]
        await client.aclose()

        second = run.up()
        client = await wait_hosts(run, second)
        for host, inst_id in ids.items():
            inst = await wait_state(client, inst_id, "Running")
            assert inst.host == host
            assert qemu_pids(inst_id, run.host_dir(host)) == [pids[host]]  # not restarted
            assert_in_host_namespace(run, pids[host], host)  # its namespace named again
            agent_pid = int((run.host_dir(host) / "agent.pid").read_text())
            assert_in_host_namespace(run, agent_pid, host)

        for inst_id in ids.values():
            await client.destroy_instance(inst_id)
        deadline = time.monotonic() + 60
        while any(qemu_pids(i, run.host_dir(h)) for h, i in ids.items()):
            assert time.monotonic() < deadline, "VMs not destroyed"
            await asyncio.sleep(0.3)
        second.stop()
        assert second.popen, second.argv
        assert second.popen.returncode == 0, second.output()
        assert run.namespaces() == []
    finally:
        await client.aclose()


async def test_kill_9_then_up_cleans_up(hosts_run: HostsRun, guest_image: Path) -> None:
    """A `tashi up` killed with SIGKILL leaves its namespaces; its agents end with it, and
    the next `tashi up` removes what is left, re-adopts the VM and comes up."""
    run = hosts_run
    first = run.up()
    client = await wait_hosts(run, first)
    try:
        await client.upload_image("guest", _chunks(guest_image))
        inst = await client.create_instance(
            InstanceCreate(name="stays", image="guest", host="h2"))
        await wait_state(client, inst.id, "Running")
        [pid] = qemu_pids(inst.id, run.host_dir("h2"))
        await client.aclose()
        agents = [int((run.host_dir(h) / "agent.pid").read_text()) for h in HOSTS]
        first.kill9()
        assert len(run.namespaces()) == len(HOSTS) + 1  # left behind
        deadline = time.monotonic() + 10
        while any(alive(agent) for agent in agents):
            assert time.monotonic() < deadline, "the agents outlived tashi up"
            await asyncio.sleep(0.1)

        second = run.up()
        client = await wait_hosts(run, second)
        assert len(run.namespaces()) == len(HOSTS) + 1
        again = await wait_state(client, inst.id, "Running")
        assert again.host == "h2"
        assert qemu_pids(inst.id, run.host_dir("h2")) == [pid]
        assert_in_host_namespace(run, pid, "h2")
        await client.destroy_instance(inst.id)
        deadline = time.monotonic() + 60
        while qemu_pids(inst.id, run.host_dir("h2")):
            assert time.monotonic() < deadline, "VM not destroyed"
            await asyncio.sleep(0.3)
        second.stop()
        assert second.popen, second.argv
        assert second.popen.returncode == 0, second.output()
        assert run.namespaces() == []
    finally:
        await client.aclose()


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk
