"""Fixtures of the end-to-end tests: real QEMU and the guest image.

These tests fail (never skip) when QEMU or the image cannot be had: CI always runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceOut
from tashi.client import TashiClient

REPO = Path(__file__).resolve().parents[2]
BUILD_GUEST_IMAGE = REPO / "scripts" / "build-guest-image.sh"
QEMU_TOOLS = ("qemu-system-x86_64", "qemu-img")


@pytest.fixture(scope="session")
def qemu_tools() -> None:
    missing = [tool for tool in QEMU_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: apt-get install -y "
                    "--no-install-recommends qemu-system-x86 qemu-utils")


@pytest.fixture(scope="session")
def guest_image(qemu_tools: None) -> Path:
    """The tiny guest (qcow2) of scripts/build-guest-image.sh, built once and cached.

    Shared by the whole session: never boot it as a persistent disk (copy it first)."""
    result = subprocess.run(
        ["bash", str(BUILD_GUEST_IMAGE)],
        capture_output=True, text=True, timeout=1800, check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        pytest.fail(f"{BUILD_GUEST_IMAGE} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    image = Path(lines[-1])
    if not image.is_file():
        pytest.fail(f"{BUILD_GUEST_IMAGE} printed {image}, which is not a file")
    return image


# --- real Tashi processes ----------------------------------------------------------------



BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def qemu_pids(instance_id: int, under: Path) -> list[int]:
    """PIDs of QEMU processes started for instance ``instance_id`` by the agent whose
    state is ``under`` (from /proc; other clusters on this machine reuse the ids)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and \
                f"tashi-{instance_id}".encode() in argv and \
                any(a.startswith(str(under).encode()) for a in argv):
            pids.append(int(entry.name))
    return pids


@dataclass
class Proc:
    """One Tashi daemon, run as a real process with its output in a log file."""

    argv: list[str]
    log: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, **self.env},
                                      stdin=subprocess.DEVNULL)
        out.close()
        return self

    def kill9(self) -> None:
        assert self.popen
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()  # SIGKILL: it ends; reaped, it is not left running

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Stack:
    """A manager, a scheduler and one agent (QEMU driver), each its own process."""

    root: Path
    port: int = field(default_factory=free_port)
    procs: dict[str, Proc] = field(default_factory=dict)
    admin_token: str = ""
    agent_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def image_dir(self) -> Path:
        return self.root / "images"

    @property
    def agent_state(self) -> Path:
        return self.root / "agent"

    @property
    def suspend_dir(self) -> Path:
        return self.root / "suspend"

    def manager(self) -> Proc:
        return Proc([str(BIN / "tashi-manager"), "--db-url", f"sqlite:///{self.root}/tashi.db",
                     "--port", str(self.port), "--image-dir", str(self.image_dir)],
                    self.root / "manager.log", {"TASHI_HEARTBEAT_TIMEOUT_S": "10",
                                                "TASHI_LIVENESS_INTERVAL_S": "1"})

    def agent(self) -> Proc:
        return Proc([str(BIN / "tashi-agent"), "--manager-url", self.url, "--host", "e2e-host",
                     "--state-dir", str(self.agent_state), "--image-dir", str(self.image_dir),
                     "--suspend-dir", str(self.suspend_dir),
                     "--driver", "qemu", "--accel", "auto"],
                    self.root / "agent.log",
                    {"TASHI_AGENT_TOKEN": self.agent_token,
                     "TASHI_AGENT_HEARTBEAT_INTERVAL_S": "1", "TASHI_AGENT_RESYNC_S": "0.5"})

    def scheduler(self) -> Proc:
        return Proc([str(BIN / "tashi-scheduler"), "--manager-url", self.url],
                    self.root / "scheduler.log", {"TASHI_TOKEN": self.admin_token})

    def start(self, name: str) -> None:
        self.procs[name] = getattr(self, name)().start()

    def wait_manager(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"manager never listened:\n{self.procs['manager'].output()}")

    def read_admin_token(self) -> str:
        found = re.search(r"token \(shown once\): (\S+)", self.procs["manager"].output())
        assert found, self.procs["manager"].output()
        return found.group(1)


@pytest.fixture
async def stack(tmp_path: Path, guest_image: Path) -> AsyncIterator[tuple[Stack, TashiClient]]:
    """Manager + scheduler + agent processes, the guest image imported as 'guest'."""
    async with running_stack(Stack(tmp_path), guest_image) as started:
        yield started


@contextlib.asynccontextmanager
async def running_stack(st: Stack, guest_image: Path) -> AsyncIterator[tuple[Stack, TashiClient]]:
    """``st`` started (see :func:`stack`), and stopped with its VMs gone afterwards."""
    st.start("manager")
    st.wait_manager()
    st.admin_token = st.read_admin_token()
    client = TashiClient(st.url, st.admin_token)
    st.agent_token = (await client.add_host("e2e-host")).token
    st.start("agent")
    st.start("scheduler")
    await client.upload_image("guest", _chunks(guest_image))
    try:
        yield st, client
    finally:
        await _destroy_all(client)
        for proc in st.procs.values():
            proc.stop()
        await client.aclose()
        _kill_leftovers(st.agent_state)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


async def _destroy_all(client: TashiClient) -> None:
    try:
        for inst in await client.list_instances():
            await client.destroy_instance(inst.id)
        for _ in range(100):
            if not await client.list_instances():
                return
            await asyncio.sleep(0.2)
    except Exception:  # the test may have stopped the manager; leftovers are killed below
        return


def _kill_leftovers(state_dir: Path) -> None:
    for pidfile in state_dir.glob("qemu/instances/*/qemu.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (ValueError, OSError):
            continue


async def wait_state(client: TashiClient, ref: str | int, *states: str,
                     timeout_s: float = 120) -> InstanceOut:
    deadline = time.monotonic() + timeout_s
    while True:
        inst = await client.get_instance(ref)
        if inst.state in states:
            return inst
        if time.monotonic() > deadline:
            raise AssertionError(f"instance {ref} is {inst.state} ({inst.message}), "
                                 f"not {states}")
        await asyncio.sleep(0.25)


async def wait_console(client: TashiClient, ref: str | int, marker: str,
                       timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = await client.console(ref)
        if marker in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"no {marker!r} on the console of {ref}:\n{text[-2000:]}")
        await asyncio.sleep(0.5)
