"""Advisory file locks (``flock``) that serialize work across the processes of one machine.

A lock is a file whose path names what it protects. :func:`locked` removes that
file when it lets go, so lock files do not pile up; whoever was waiting on the
removed file notices it was removed and takes the lock anew on the current one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock named by ``path``, blocking until it is free.

    Blocks the calling thread: call it from a worker thread in async code."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        if _is_current(fd, path):
            break
        os.close(fd)  # its holder removed it while we waited: lock the new one
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # still held: a waiter sees it gone and retries
        os.close(fd)


def hold(fd: int) -> None:
    """Lock the open file ``fd`` for as long as it stays open (see :func:`remove_unheld`)."""
    fcntl.flock(fd, fcntl.LOCK_EX)


def remove_unheld(path: Path) -> bool:
    """Remove ``path`` unless a live process holds it (with :func:`hold` or :func:`locked`).

    Returns whether it was removed."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # gone already, or not a plain file: not ours to remove
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _is_current(fd, path):
            return False
        path.unlink()
        return True
    finally:
        os.close(fd)


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)
