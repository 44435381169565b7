"""``qemu-img``, driver-independent: running it and inspecting images.

Used by the QEMU driver (overlays) and the manager (importing images). Failures
raise :class:`QemuImgError`, carrying qemu-img's own message; each caller
translates it once into the error of its layer (DriverError, InvalidInput...).

Inspecting an image must not make qemu-img open other host files on the image's
say: :func:`image_info` reads the header itself first and refuses, unopened, a
qcow2 with an external data file and a VMDK descriptor (which lists extent files).
Backing files are never opened by ``qemu-img info``; they are only reported.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tashi.common.subprocesses import communicate

QEMU_IMG = "qemu-img"
INFO_TIMEOUT_S = 60.0  # info reads metadata only: a longer run is stuck (e.g. on a FIFO)

QCOW2_MAGIC = b"QFI\xfb"
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2  # header bit 2 of incompatible_features (qcow2 v3)
_HEAD_BYTES = 4096  # more than qemu's own probe reads (512)


class QemuImgError(Exception):
    """qemu-img could not be run or reported a failure."""

    def __init__(self, argv: Sequence[str], message: str) -> None:
        super().__init__(f"{shlex.join(argv)}: {message}")
        self.argv = tuple(argv)
        self.stderr = message


class UnsafeImageError(QemuImgError):
    """The image names other host files; refused before qemu-img was run on it.

    ``reason`` completes "the image ...", e.g. "has an external data file"."""

    def __init__(self, argv: Sequence[str], reason: str) -> None:
        super().__init__(argv, f"refused: the image {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str  # "qcow2", "raw", ...
    virtual_size_bytes: int  # the size the guest sees
    actual_size_bytes: int  # bytes allocated on the host
    backing_file: str | None = None
    data_file: str | None = None  # a qcow2's external data file


async def run_qemu_img(args: Sequence[str], qemu_img: str = QEMU_IMG,
                       timeout_s: float | None = None) -> str:
    """Run ``qemu-img ARGS`` and return its stdout; raise QemuImgError on failure
    (killing it first if it runs longer than ``timeout_s``)."""
    argv = [qemu_img, *args]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise QemuImgError(argv, str(exc)) from exc
    try:
        out, err = await communicate(proc, timeout_s)
    except TimeoutError:
        raise QemuImgError(argv, f"no answer within {timeout_s:g} s") from None
    if proc.returncode != 0:
        message = err.decode("utf-8", errors="replace").strip()
        raise QemuImgError(argv, message or f"exited with code {proc.returncode}")
    return out.decode("utf-8", errors="replace")


async def image_info(path: Path, qemu_img: str = QEMU_IMG) -> ImageInfo:
    """Format and sizes of the image at ``path`` (``qemu-img info --output=json``).

    The format is probed from the content; read-only, so it works on images in use.
    Raises UnsafeImageError, without running qemu-img, for an image that names other
    host files (see the module's docstring)."""
    args = ["info", "--output=json", "--force-share", str(path)]
    head = await asyncio.to_thread(_read_head, path, [qemu_img, *args])
    fmt = _check_header(head, [qemu_img, *args])
    if fmt is not None:  # known from the header: qemu-img must not probe it again
        args[1:1] = ["-f", fmt]
    out = await run_qemu_img(args, qemu_img, INFO_TIMEOUT_S)
    try:
        data = json.loads(out)
        return ImageInfo(
            format=str(data["format"]),
            virtual_size_bytes=int(data["virtual-size"]),
            actual_size_bytes=int(data.get("actual-size", 0)),
            backing_file=data.get("backing-filename"),
            data_file=_data_file(data),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QemuImgError([qemu_img, *args], f"unexpected output: {exc}") from exc


def _read_head(path: Path, argv: Sequence[str]) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(_HEAD_BYTES)
    except OSError as exc:
        raise QemuImgError(argv, f"cannot read {path}: {exc.strerror}") from exc


def _check_header(head: bytes, argv: Sequence[str]) -> str | None:
    """"qcow2" for a qcow2 header, None for anything else (left to qemu-img's probe);
    raise UnsafeImageError for the headers that name other files."""
    if head[:4] == QCOW2_MAGIC and len(head) >= 72:
        version = int.from_bytes(head[4:8], "big")
        if version >= 3:
            incompatible = int.from_bytes(head[72:80], "big")
            if incompatible & _QCOW2_INCOMPAT_DATA_FILE:
                raise UnsafeImageError(argv, "has an external data file")
        return "qcow2" if version in (2, 3) else None  # version 1 is the older "qcow"
    if _is_vmdk_descriptor(head):
        raise UnsafeImageError(argv, "is a VMDK descriptor, which names other files")
    return None


def _is_vmdk_descriptor(head: bytes) -> bool:
    """What qemu probes as a VMDK descriptor (a little wider, to be safe): comment or
    blank lines, then a ``version=`` line."""
    for line in head.split(b"\n"):
        if line.startswith(b"#") or not line.strip(b" \t\r"):
            continue
        return line.startswith(b"version=")
    return False


def _data_file(data: dict[str, Any]) -> str | None:
    specific = data.get("format-specific") or {}
    found = (specific.get("data") or {}).get("data-file")
    return None if found is None else str(found)
