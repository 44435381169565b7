"""``qemu-img``, driver-independent: running it and inspecting images.

Used by the QEMU driver (overlays) and the manager (importing images). Failures
raise :class:`QemuImgError`, carrying qemu-img's own message; each caller
translates it once into the error of its layer (DriverError, InvalidInput...).
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

QEMU_IMG = "qemu-img"


class QemuImgError(Exception):
    """qemu-img could not be run or reported a failure."""

    def __init__(self, argv: Sequence[str], message: str) -> None:
        super().__init__(f"{shlex.join(argv)}: {message}")
        self.argv = tuple(argv)
        self.stderr = message


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # "qcow2", "raw", ...
    virtual_size_bytes: int  # the size the guest sees
    actual_size_bytes: int  # bytes allocated on the host
    backing_file: str | None = None


async def run_qemu_img(args: Sequence[str], qemu_img: str = QEMU_IMG) -> str:
    """Run ``qemu-img ARGS`` and return its stdout; raise QemuImgError on failure."""
    argv = [qemu_img, *args]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
    except OSError as exc:
        raise QemuImgError(argv, str(exc)) from exc
    if proc.returncode != 0:
        message = err.decode("utf-8", errors="replace").strip()
        raise QemuImgError(argv, message or f"exited with code {proc.returncode}")
    return out.decode("utf-8", errors="replace")


async def image_info(path: Path, qemu_img: str = QEMU_IMG) -> ImageInfo:
    """Format and sizes of the image at ``path`` (``qemu-img info --output=json``).

    The format is probed from the content; read-only, so it works on images in use."""
    args = ["info", "--output=json", "--force-share", str(path)]
    out = await run_qemu_img(args, qemu_img)
    try:
        data = json.loads(out)
        return ImageInfo(
            format=str(data["format"]),
            virtual_size_bytes=int(data["virtual-size"]),
            actual_size_bytes=int(data.get("actual-size", 0)),
            backing_file=data.get("backing-filename"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise QemuImgError([qemu_img, *args], f"unexpected output: {exc}") from exc

