"""A suspended VM's saved state: its memory and device state, and its disks, in a
directory of the suspend directory (shared by the hosts, like the image directory).

Layout of ``<suspend dir>/<instance id>/``::

    memory.partial   QEMU's migration stream while it is being written
    memory           the whole stream, once QEMU said the save completed
    disk<N>.qcow2    the VM's overlays and blank disks, disk<N>.raw its scratch disks
    done             written last: the saved state is whole (see SavedState.complete)

Saving: QMP ``stop`` (one pass, nothing changes meanwhile), ``migrate`` to
``memory.partial``, renamed to ``memory`` when complete; QEMU ends; the disks are
linked (or, across file systems, copied) from the runtime directory; ``done``; then
the runtime directory goes. Restoring links (or copies) the disks back into a new
runtime directory and feeds ``memory`` to a QEMU started with ``-incoming defer``; the
saved state is removed only once the VM runs. Each step can be repeated after a crash:
links, not moves, so an interrupted step never leaves a disk in neither place.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tashi.agent.drivers.qemu.qmp import QmpSession, qmp_session
from tashi.domain.errors import DriverError

log = logging.getLogger(__name__)

POLL_S = 0.01  # query-migrate: cheap on a held session
MIGRATE_BANDWIDTH = 64 * 1024**3  # bytes/s: as fast as the disk takes it
_DISK_FILE = re.compile(r"disk\d+\.(qcow2|raw)")
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SavedState:
    """Paths of one instance's saved state. Pure: nothing is touched on disk."""

    root: Path

    @property
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def partial(self) -> Path:
        return self.root / "memory.partial"

    @property
    def done(self) -> Path:
        return self.root / "done"

    def complete(self) -> bool:
        """Whether the whole state is there: memory and disks (``done`` written last)."""
        return self.done.exists() and self.memory.exists()


def disk_files(directory: Path) -> list[Path]:
    """The disk files a VM carries across a suspend: overlays, blank and scratch disks
    (images stay in the image directory; a seed is made again)."""
    try:
        return sorted(p for p in directory.iterdir() if _DISK_FILE.fullmatch(p.name))
    except FileNotFoundError:
        return []


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` holds ``source``'s data: a hard link on one file system, else a sparse
    copy. Repeatable (a target already there from an interrupted run is replaced).
    Raises DriverError."""
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM):  # another file system; no links
            raise DriverError(f"cannot link {source} to {target}: {exc.strerror}") from exc
    done = subprocess.run(["cp", "--sparse=always", "--reflink=auto", "--", str(source),
                           str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise DriverError(f"cannot copy {source} to {target}: {done.stderr.strip()}")


def carry_disks(source_dir: Path, target_dir: Path) -> list[str]:
    """Link or copy every disk file of ``source_dir`` into ``target_dir``; their names."""
    names = []
    for disk in disk_files(source_dir):
        link_or_copy(disk, target_dir / disk.name)
        names.append(disk.name)
    return names


def prepare(saved: SavedState, memory_bytes: int, disk_dir: Path) -> None:
    """Make the saved state's directory and check it has room for the memory (and for
    the disks, if they must be copied there); DriverError saying why not."""
    try:
        saved.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        saved.partial.unlink(missing_ok=True)
        probe = saved.root / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
        room = shutil.disk_usage(saved.root).free
    except OSError as exc:
        raise DriverError(f"cannot write to the suspend directory {saved.root}: "
                          f"{exc.strerror}") from exc
    needed = memory_bytes
    if os.stat(saved.root).st_dev != os.stat(disk_dir).st_dev:  # copies, not links
        needed += sum(p.stat().st_blocks * 512 for p in disk_files(disk_dir))
    if room < needed:
        raise DriverError(f"the suspend directory {saved.root} has {room // 2**20} MiB free; "
                          f"saving this VM needs up to {needed // 2**20} MiB")


def finish_save(saved: SavedState, runtime_dir: Path) -> list[str]:
    """After QEMU ended: the disks into the saved state, ``done`` written (fsynced); the
    names of the disks. The caller removes the runtime directory after."""
    names = carry_disks(runtime_dir, saved.root)
    fd = os.open(saved.done, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, ("\n".join(names) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(saved.root)
    return names


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def save_memory(socket: Path, saved: SavedState, label: str, timeout_s: float,
                      progress: Progress) -> None:
    """Stop the VM and write its memory and device state to ``saved.memory`` (one QMP
    session throughout). On failure the VM runs on as it was (``cont`` if it ran) and
    the partial file is removed; DriverError says why."""
    async with qmp_session(socket) as qmp:
        was_running = await qmp.status() == "running"
        await qmp.execute("stop")
        try:
            await qmp.execute("migrate-set-parameters", {"max-bandwidth": MIGRATE_BANDWIDTH})
            uri = f"exec:cat > {shlex.quote(str(saved.partial))}"
            await qmp.execute("migrate", {"uri": uri})
            await wait_migration(qmp, f"{label}: saving its state", timeout_s, progress)
            await asyncio.to_thread(_commit, saved)
        except BaseException:
            saved.partial.unlink(missing_ok=True)
            if was_running:
                try:
                    await qmp.execute("cont")
                except DriverError as exc:
                    log.error("%s: cannot let it run on after the failed save: %s", label, exc)
            raise


def _commit(saved: SavedState) -> None:
    with saved.partial.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(saved.partial, saved.memory)
    _fsync_dir(saved.root)


async def restore_memory(socket: Path, saved: SavedState, label: str, timeout_s: float,
                         progress: Progress) -> None:
    """Feed ``saved.memory`` to the QEMU waiting at ``socket`` (started with
    ``-incoming defer``), then run it (QEMU leaves it paused: it was stopped for the
    save); DriverError if it does not run."""
    async with qmp_session(socket) as qmp:
        uri = f"exec:cat {shlex.quote(str(saved.memory))}"
        try:
            await qmp.execute("migrate-incoming", {"uri": uri})
            await wait_migration(qmp, "restoring its state", timeout_s, progress)
        except DriverError as exc:  # QEMU ends when the stream is bad: its log says why
            raise DriverError(f"{label}: restoring its state from {saved.memory} failed: "
                              f"{exc.message}") from exc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while (state := await qmp.status()) != "running":
            if state not in ("inmigrate", "paused", "restore-vm", "prelaunch") or \
                    loop.time() > deadline:
                raise DriverError(f"{label}: restored, but QEMU is {state}, not running")
            if state == "paused":
                await qmp.execute("cont")
            else:
                await asyncio.sleep(POLL_S)


async def wait_migration(qmp: QmpSession, what: str, timeout_s: float,
                         progress: Progress) -> None:
    """Poll ``query-migrate`` until it completes; DriverError when it fails, is
    cancelled or takes longer than ``timeout_s`` (then it is cancelled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        info = await qmp.execute("query-migrate")
        status = info.get("status", "") if isinstance(info, Mapping) else ""
        if status == "completed":
            progress(100)
            return
        if status in ("failed", "cancelled"):
            why = info.get("error-desc", status) if isinstance(info, Mapping) else status
            raise DriverError(f"{what} failed: {why}")
        if isinstance(info, Mapping):
            progress(percent(info.get("ram")))
        if loop.time() > deadline:
            await _cancel(qmp)
            raise DriverError(f"{what}: not done after {timeout_s:.0f} s")
        await asyncio.sleep(POLL_S)


def percent(ram: object) -> int:
    """How much of the RAM was sent, from ``query-migrate``'s ``ram`` (0 when unknown)."""
    if not isinstance(ram, Mapping):
        return 0
    total, remaining = ram.get("total"), ram.get("remaining")
    if not isinstance(total, int) or not isinstance(remaining, int) or total <= 0:
        return 0
    return max(0, min(99, (total - remaining) * 100 // total))


async def _cancel(qmp: QmpSession) -> None:
    try:
        await qmp.execute("migrate_cancel")
    except DriverError as exc:
        log.warning("QMP migrate_cancel: %s", exc)
