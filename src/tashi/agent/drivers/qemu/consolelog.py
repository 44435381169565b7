"""A VM's serial console log, kept bounded on the host's disk.

QEMU writes the console to ``console.log`` (opened with ``append=on``: O_APPEND, so
every write goes to the end of the file as it is now). A guest may write without end;
past :data:`MAX_BYTES` the file's last :data:`KEEP_BYTES` are copied to
``console.log.1`` and ``console.log`` is truncated, so one VM's console takes at most
about ``MAX_BYTES + KEEP_BYTES`` on disk. Readers see both files as one text. Whatever
QEMU writes between the copy and the truncation (microseconds) is lost.

A QEMU started without ``append=on`` (by an older agent) keeps writing at its own
offset after a truncation, leaving a hole: its log is not rotated.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tashi.agent.drivers.qemu.runtime import read_tail

log = logging.getLogger(__name__)

MAX_BYTES = 4 * 1024 * 1024
KEEP_BYTES = 64 * 1024
APPEND_OPTION = "append=on"


def rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def rotate_if_large(path: Path, label: str, *, max_bytes: int = MAX_BYTES,
                    keep_bytes: int = KEEP_BYTES) -> bool:
    """Rotate ``path`` when it is larger than ``max_bytes``; True when it did."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    tail = read_tail(path, keep_bytes)
    older = rotated(path)
    partial = older.with_name(older.name + ".new")
    partial.write_bytes(tail)
    os.replace(partial, older)
    os.truncate(path, 0)
    log.info("%s: console log over %d bytes: its last %d kept in %s, the log restarted",
             label, max_bytes, len(tail), older.name)
    return True


def read_console(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of the console: ``console.log``, preceded if it is short
    by the end of ``console.log.1``."""
    recent = read_tail(path, max_bytes)
    if len(recent) >= max_bytes:
        return recent
    return read_tail(rotated(path), max_bytes - len(recent)) + recent
