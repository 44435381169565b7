"""A running VM's display on real QEMU, through Tashi's processes and its CLI: VNC that
answers the RFB handshake with the password it was given (and refuses any other), its
end, a screenshot as a PNG, and both refused for a VM that is not Running."""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.domain.errors import InvalidTransition
from tests.e2e.conftest import BIN, Stack, wait_console, wait_state
from tests.e2e.rfb import handshake

MARKER = "TASHI-GUEST-READY"


def tashi(st: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``tashi`` command line, as its user runs it."""
    env = {**os.environ, "TASHI_URL": st.url, "TASHI_TOKEN": st.admin_token}
    return subprocess.run([str(BIN / "tashi"), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the filtered scanlines of an 8-bit RGB PNG, each chunk's CRC
    checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR"
    assert chunks[-1] == (b"IEND", b"")
    width, height, depth, colour = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (depth, colour) == (8, 2)  # 8 bits, RGB
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == height * (1 + 3 * width)
    return width, height, raw


async def test_vnc_and_screenshot_of_a_running_vm(
        stack: tuple[Stack, TashiClient], tmp_path: Path) -> None:
    st, client = stack
    inst = await client.create_instance(InstanceCreate(name="web", image="guest",
                                                       memory_mib=128))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, MARKER)

    first = await client.open_vnc("web")
    assert first.host == "127.0.0.1"
    assert len(first.password) == 8
    opened = await handshake(first.host, first.port, first.password)
    assert opened.accepted, opened
    assert 320 <= opened.width <= 4096
    assert 200 <= opened.height <= 4096
    assert "tashi-" in opened.name  # QEMU names the desktop after the VM
    refused = await handshake(first.host, first.port, first.password[::-1] + "x")
    assert not refused.accepted
    assert "fail" in refused.reason.lower()

    shown = tashi(st, "vm", "vnc", "web")  # a fresh password: the first stops working
    assert shown.returncode == 0, shown.stderr
    second = shown.stdout.split("password: ")[1].strip()
    assert second != first.password
    assert f"VNC on 127.0.0.1:{first.port}" in shown.stdout  # the same server
    assert (await handshake(first.host, first.port, second)).accepted
    assert not (await handshake(first.host, first.port, first.password)).accepted
    assert first.password not in (await client.get_instance("web")).model_dump_json()

    stopped = tashi(st, "vm", "vnc", "web", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(ConnectionRefusedError):  # nothing listens there any more
        await handshake(first.host, first.port, second)

    out = tmp_path / "screen.png"
    saved = tashi(st, "vm", "screenshot", "web", str(out))
    assert saved.returncode == 0, saved.stderr
    width, height, raw = png_pixels(out.read_bytes())
    assert (width, height) == (opened.width, opened.height)
    rows = [raw[r * (1 + 3 * width):(r + 1) * (1 + 3 * width)] for r in range(height)]
    assert {row[0] for row in rows} == {0}  # unfiltered scanlines: the pixels as they are
    pixels = {row[i:i + 3] for row in rows for i in range(1, len(row), 3)}
    assert len(pixels) >= 2  # text on a background, not an empty frame

    await client.operate_instance("web", "pause")
    await wait_state(client, inst.id, "Paused")
    with pytest.raises(InvalidTransition, match=r"^cannot vnc web: it is Paused; vnc needs "
                                                r"Running$"):
        await client.open_vnc("web")
    for args in (("vm", "vnc", "web"), ("vm", "screenshot", "web", str(tmp_path / "p.png"))):
        refused_cli = tashi(st, *args)
        assert refused_cli.returncode != 0
        lines = refused_cli.stderr.strip().splitlines()
        assert len(lines) == 1, refused_cli.stderr
        assert "web" in lines[0]
        assert "it is Paused" in lines[0]
    assert not (tmp_path / "p.png").exists()
