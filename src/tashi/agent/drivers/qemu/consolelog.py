"""A VM's serial console log, kept bounded on the host's disk.

QEMU writes the console to ``console.log`` (opened with ``append=on``: O_APPEND, so
every write goes to the end of the file as it is now). A guest may write without end;
past :data:`MAX_BYTES` the file's last :data:`KEEP_BYTES` are copied to
``console.log.1`` and ``console.log`` is truncated, so one VM's console takes at most
about ``MAX_BYTES + KEEP_BYTES`` on disk. Readers see both files as one text. Whatever
QEMU writes between the last read and the truncation (microseconds) is lost.

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
    """Rotate ``path`` when it is larger than ``max_bytes``; True when it did.

    Its tail is read, then whatever was appended meanwhile, and the file is truncated
    at once; only then is the tail written to ``console.log.1``. What the guest writes
    between that last read and the truncation (two system calls) is lost, and an agent
    that dies before writing ``console.log.1`` loses that tail: console history, never
    the VM."""
    try:
        with path.open("rb") as log_file:
            end = log_file.seek(0, os.SEEK_END)
            if end <= max_bytes:
                return False
            log_file.seek(end - keep_bytes)
            tail = log_file.read(keep_bytes)
            tail += log_file.read()  # appended while we read
            os.truncate(path, 0)
    except FileNotFoundError:
        return False
    older = rotated(path)
    partial = older.with_name(older.name + ".new")
    partial.write_bytes(tail[-keep_bytes:])
    os.replace(partial, older)
    log.info("%s: console log over %d bytes: its last %d kept in %s, the log restarted",
             label, max_bytes, min(len(tail), keep_bytes), older.name)
    return True


def read_console(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of the console: ``console.log``, preceded if it is short
    by the end of ``console.log.1``."""
    recent = read_tail(path, max_bytes)
    if len(recent) >= max_bytes:
        return recent
    return read_tail(rotated(path), max_bytes - len(recent)) + recent
