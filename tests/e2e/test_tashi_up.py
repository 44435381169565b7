"""`tashi up`: the all-in-one cluster; Ctrl-C stops it, the VMs keep running, and a
second `tashi up` on the same directory re-adopts them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tests.e2e.conftest import BIN, Proc, free_port, qemu_pids, wait_console, wait_state

pytestmark = pytest.mark.e2e


def tashi_up(data_dir: Path, port: int) -> Proc:
    return Proc([str(BIN / "tashi"), "up", "--data-dir", str(data_dir), "--port", str(port)],
                data_dir.parent / f"up-{port}.log", {}).start()


async def wait_up(data_dir: Path, proc: Proc, url: str) -> TashiClient:
    deadline = time.monotonic() + 60
    token_file = data_dir / "admin.token"
    while time.monotonic() < deadline:
        assert proc.popen, proc.argv
        assert proc.popen.poll() is None, proc.output()
        if token_file.exists() and token_file.read_text().strip():
            client = TashiClient(url, token_file.read_text().strip())
            try:
                if [h.up for h in await client.list_hosts()] == [True]:
                    return client
            except Exception:
                pass
            await client.aclose()
        await asyncio.sleep(0.2)
    raise AssertionError(f"tashi up never came up:\n{proc.output()}")


async def wait_announced(data_dir: Path, proc: Proc, url: str) -> None:
    """``proc`` told how to use it: its URL and where the token is, never the token."""
    token = (data_dir / "admin.token").read_text().strip()
    deadline = time.monotonic() + 30
    while "tashi login" not in proc.output():
        assert time.monotonic() < deadline, f"no announcement:\n{proc.output()}"
        await asyncio.sleep(0.1)
    output = proc.output()
    assert f"Tashi is up on {url}" in output
    assert f"export TASHI_TOKEN=$(cat {data_dir / 'admin.token'})" in output
    assert f"--token-file {data_dir / 'admin.token'}" in output
    assert token not in output


async def test_up_ctrl_c_and_resume_readopts(tmp_path: Path, guest_image: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = tashi_up(data, port)
    second: Proc | None = None
    client: TashiClient | None = None
    pid = None
    inst_id = None
    try:
        client = await wait_up(data, first, url)
        await wait_announced(data, first, url)
        await client.upload_image("guest", _chunks(guest_image))
        inst = await client.create_instance(InstanceCreate(name="keep", image="guest"))
        inst_id = inst.id
        await wait_state(client, inst.id, "Running")
        await wait_console(client, inst.id, "TASHI-GUEST-READY")
        [pid] = qemu_pids(inst.id, data)
        assert first.popen
        first.popen.send_signal(signal.SIGINT)  # Ctrl-C
        assert first.popen.wait(30) == 0, first.output()
        assert "stopped; VMs keep running" in first.output()
        assert qemu_pids(inst.id, data) == [pid]
        await client.aclose()

        second = tashi_up(data, port)
        client = await wait_up(data, second, url)
        again = await wait_state(client, inst.id, "Running")
        assert again.name == "keep"
        await asyncio.sleep(3)
        assert qemu_pids(inst.id, data) == [pid]  # re-adopted, not restarted
        await client.destroy_instance(inst.id)
        for _ in range(100):
            if not qemu_pids(inst.id, data):
                break
            await asyncio.sleep(0.2)
        assert qemu_pids(inst.id, data) == []
        second.stop()
        assert second.popen, second.argv
        assert second.popen.returncode == 0, second.output()
    finally:
        if client is not None:
            await client.aclose()
        for proc in (first, second):
            if proc is not None:
                proc.stop()
        if inst_id is not None:
            for p in qemu_pids(inst_id, data):
                os.kill(p, signal.SIGKILL)


async def test_second_up_on_same_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    first = tashi_up(data, port)
    second: Proc | None = None
    client: TashiClient | None = None
    try:
        client = await wait_up(data, first, f"http://127.0.0.1:{port}")
        await wait_announced(data, first, f"http://127.0.0.1:{port}")
        second = tashi_up(data, free_port())
        assert second.popen
        assert second.popen.wait(30) != 0
        assert "already running" in second.output()
    finally:
        if client is not None:
            await client.aclose()
        for proc in (first, second):
            if proc is not None:
                proc.stop()


async def _chunks(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk
