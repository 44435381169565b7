"""A guest reaches nothing on its host: QEMU's user-mode NAT maps its gateway
(10.0.2.2) to the host's 127.0.0.1 unless it is restricted.

The guest image tries to open 10.0.2.2:8470 (the manager's default port) after it is
ready and prints ``TASHI-GUEST-HOSTPORT 8470 open|closed``. Through Tashi, with the
real manager listening on 127.0.0.1:8470, it must say closed; the same image under a
bare, unrestricted QEMU says open (so the probe can tell the difference)."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tests.e2e.conftest import Stack, running_stack, wait_console, wait_state

pytestmark = pytest.mark.e2e

MANAGER_PORT = 8470  # the port the guest image probes: Tashi's default
HOSTPORT = re.compile(r"TASHI-GUEST-HOSTPORT 8470 (open|closed)")


def require_port_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            pytest.fail(f"127.0.0.1:{port} is taken ({exc}): this test runs the manager on "
                        "Tashi's default port, which the guest image probes")


async def test_guest_cannot_reach_the_managers_port(tmp_path: Path, guest_image: Path) -> None:
    require_port_free(MANAGER_PORT)
    async with running_stack(Stack(tmp_path, port=MANAGER_PORT), guest_image) as (_st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "probe", "image": "guest", "memory_mib": 128}))
        await wait_state(client, inst.id, "Running")
        console = await wait_console(client, inst.id, "TASHI-GUEST-HOSTPORT")
        found = HOSTPORT.search(console)
        assert found, console[-2000:]
        assert found.group(1) == "closed", console[-2000:]
        # the manager still answers on that port: the guest was refused, not the port empty
        assert (await client.get_instance(inst.id)).state == "Running"


def test_unrestricted_user_network_reaches_the_host(tmp_path: Path, guest_image: Path) -> None:
    """The control: the probe does see the host's loopback when the NAT allows it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", MANAGER_PORT))
        except OSError as exc:
            pytest.fail(f"127.0.0.1:{MANAGER_PORT} is taken ({exc})")
        listener.listen(4)
        console, log = tmp_path / "console.log", tmp_path / "qemu.log"
        with log.open("wb") as out:
            qemu = subprocess.Popen(
                ["qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "128M",
                 "-nodefaults", "-no-user-config", "-display", "none",
                 "-drive", f"if=none,id=d0,file={guest_image},format=qcow2,snapshot=on",
                 "-device", "virtio-blk-pci,drive=d0,bootindex=0",
                 "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
                 "-chardev", f"file,id=s0,path={console}", "-serial", "chardev:s0"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        try:
            found = _wait_for(console, log, qemu, timeout_s=120)
        finally:
            qemu.kill()
            qemu.wait(10)
    assert found == "open"


def _wait_for(console: Path, log: Path, qemu: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline, text = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        text = console.read_text(errors="replace") if console.exists() else ""
        if found := HOSTPORT.search(text):
            return found.group(1)
        if qemu.poll() is not None:
            raise AssertionError(f"QEMU exited {qemu.returncode}: {log.read_text()}\n{text}")
        time.sleep(0.25)
    raise AssertionError(f"no TASHI-GUEST-HOSTPORT line in {timeout_s} s:\n{text[-2000:]}")
