"""A QEMU VM's display: a small VGA device, a VNC server started on demand, screenshots.

Every VM starts with :data:`DISPLAY_ARGS`: a standard VGA adapter with 4 MiB of video
memory (enough for 1024x768 in 32 bits; QEMU's default is 16) and a VNC display that
listens nowhere and wants a password (``-vnc none,password=on``). A VNC request then
needs no restart (QEMU 7.1+ QMP): ``set_password`` first, so that the server never
listens with an old password or none, then ``display-update`` makes it listen on the
host's VNC address and a port the kernel picks, which ``query-vnc`` tells. Closing
it is ``display-update`` with no address (clients already connected stay until they
leave: QEMU has no command to drop them) and a random password nobody knows.

A screenshot is QMP ``screendump`` (a PPM file in the runtime directory, read and
removed), converted here to PNG (:func:`tashi.domain.displays.rgb_png`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path

from tashi.agent.drivers.qemu.qmp import qmp_execute
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, vm_name
from tashi.domain.displays import MAX_SCREENSHOT_BYTES, VNC_PASSWORD_CHARS, rgb_png
from tashi.domain.errors import DriverError

log = logging.getLogger(__name__)

VGA_MEMORY_MIB = 4
DISPLAY_ARGS = ("-device", f"VGA,vgamem_mb={VGA_MEMORY_MIB}", "-vnc", "none,password=on")
SCREENDUMP = "screendump.ppm"


def screendump_file(layout: RuntimeLayout) -> Path:
    return layout.root / SCREENDUMP


async def open_vnc(layout: RuntimeLayout, instance_id: int, listen: str,
                   password: str) -> int:
    """Set the VM's VNC password, make its server listen on ``listen`` (if it does not
    already), and return its port."""
    if not 0 < len(password) <= VNC_PASSWORD_CHARS:
        raise DriverError(f"instance {instance_id}: a VNC password has 1 to "
                          f"{VNC_PASSWORD_CHARS} characters, not {len(password)}")
    await _qmp(layout, instance_id, "set_password", {"protocol": "vnc", "password": password})
    info = await _query_vnc(layout, instance_id)
    if not info.get("enabled") or info.get("host") != listen:
        address = {"type": "inet", "host": listen, "port": "0"}  # 0: a free port
        await _qmp(layout, instance_id, "display-update", {"type": "vnc",
                                                           "addresses": [address]})
        info = await _query_vnc(layout, instance_id)
    service = info.get("service")
    if not info.get("enabled") or not isinstance(service, str) or not service.isdigit():
        raise DriverError(f"instance {instance_id}: QMP query-vnc: no VNC server listening "
                          f"after display-update ({info!r})")
    log.info("instance %d: VNC listening on %s:%s", instance_id, listen, service)
    return int(service)


async def close_vnc(layout: RuntimeLayout, instance_id: int) -> None:
    """Stop the VM's VNC server listening, and change its password to one nobody has."""
    await _qmp(layout, instance_id, "display-update", {"type": "vnc", "addresses": []})
    unknown = secrets.token_urlsafe(6)[:VNC_PASSWORD_CHARS]
    await _qmp(layout, instance_id, "set_password", {"protocol": "vnc", "password": unknown})
    log.info("instance %d: VNC closed", instance_id)


async def screenshot(layout: RuntimeLayout, instance_id: int) -> bytes:
    """The VM's display now, as a PNG."""
    path = screendump_file(layout)
    await _qmp(layout, instance_id, "screendump", {"filename": str(path)})
    try:
        data = await asyncio.to_thread(_read_and_remove, path)
    except OSError as exc:
        raise DriverError(f"instance {instance_id}: cannot read its screendump {path}: "
                          f"{exc.strerror}") from exc
    width, height, rgb = parse_ppm(data, f"instance {instance_id}: its screendump")
    png = await asyncio.to_thread(rgb_png, width, height, rgb)
    if len(png) > MAX_SCREENSHOT_BYTES:
        raise DriverError(f"instance {instance_id}: its screenshot ({width}x{height}) is a "
                          f"PNG of {len(png)} bytes, more than the limit of "
                          f"{MAX_SCREENSHOT_BYTES} bytes")
    return png


def parse_ppm(data: bytes, what: str) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a binary PPM (P6, 8 bits), as QEMU writes them;
    DriverError naming ``what`` for anything else."""
    fields: list[bytes] = []
    at = 0
    while len(fields) < 4:  # magic, width, height, maxval, each followed by whitespace
        while at < len(data) and data[at:at + 1].isspace():
            at += 1
        end = at
        while end < len(data) and not data[end:end + 1].isspace():
            end += 1
        if end >= len(data):
            raise DriverError(f"{what}: a truncated PPM header")
        fields.append(data[at:end])
        at = end + 1  # exactly one whitespace byte before the pixels
    magic, width, height, maxval = fields
    if magic != b"P6" or not (width.isdigit() and height.isdigit()) or maxval != b"255":
        raise DriverError(f"{what}: not an 8-bit binary PPM ({b' '.join(fields)!r})")
    w, h = int(width), int(height)
    rgb = data[at:]
    if len(rgb) != w * h * 3:
        raise DriverError(f"{what}: {len(rgb)} bytes of pixels for {w}x{h}, not {w * h * 3}")
    return w, h, rgb


def _read_and_remove(path: Path) -> bytes:
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


async def _query_vnc(layout: RuntimeLayout, instance_id: int) -> Mapping[str, object]:
    info = await _qmp(layout, instance_id, "query-vnc", None)
    if not isinstance(info, Mapping):
        raise DriverError(f"instance {instance_id}: QMP query-vnc: unexpected answer {info!r}")
    return info


async def _qmp(layout: RuntimeLayout, instance_id: int, command: str,
               arguments: Mapping[str, object] | None) -> object:
    """``command`` on the VM's QMP; its error names the instance, never the password."""
    try:
        return await qmp_execute(layout.qmp_socket, command, arguments,
                                 client_name=vm_name(instance_id))
    except DriverError as exc:
        raise DriverError(f"instance {instance_id}: {exc.message}") from exc
