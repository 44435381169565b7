"""The per-instance runtime directory: what a restarted agent needs to find its VMs.

Layout of ``<state_dir>/instances/<instance id>/``::

    meta.json      versioned record: instance id, name, QEMU argv, creation time
    qmp.sock       QMP monitor (unix socket)
    console.log    the guest's serial console (console.log.1: its rotated tail, see
                   consolelog)
    ending.json    how the agent ended the VM (power button, kill), see ending
    qemu.log       QEMU's own stdout and stderr
    qemu.pid       written by QEMU (-pidfile)
    disk<N>.qcow2  copy-on-write overlay of non-persistent disk N

A start creates the directory, meta.json and the overlays, then opens qemu.log and
runs QEMU, which creates its pidfile, console.log and qmp.sock. When QEMU exits it
removes its pidfile and socket, but console.log stays: a directory without any of
QEMU's files is one whose QEMU never ran (the agent stopped in the middle of a
start), see :func:`qemu_ever_ran`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

META_FORMAT_VERSION = 1
UNIX_PATH_MAX = 107  # sun_path is 108 bytes, with the terminating NUL


def vm_name(instance_id: int) -> str:
    """QEMU's ``-name`` of an instance; found again in ``/proc/<pid>/cmdline``."""
    return f"tashi-{instance_id}"


@dataclass(frozen=True, slots=True)
class RuntimeLayout:
    """Paths of one instance's runtime files. Pure: nothing is touched on disk."""

    root: Path

    @classmethod
    def of(cls, state_dir: Path, instance_id: int) -> RuntimeLayout:
        return cls(instances_dir(state_dir) / str(instance_id))

    @property
    def meta(self) -> Path:
        return self.root / "meta.json"

    @property
    def qmp_socket(self) -> Path:
        return self.root / "qmp.sock"

    @property
    def console_log(self) -> Path:
        return self.root / "console.log"

    @property
    def qemu_log(self) -> Path:
        return self.root / "qemu.log"

    @property
    def pidfile(self) -> Path:
        return self.root / "qemu.pid"

    def overlay(self, index: int) -> Path:
        return self.root / f"disk{index}.qcow2"


@dataclass(frozen=True, slots=True)
class RuntimeMeta:
    instance_id: int
    name: str
    argv: tuple[str, ...]
    created_at: datetime
    format_version: int = META_FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps({
            "format_version": self.format_version,
            "instance_id": self.instance_id,
            "name": self.name,
            "argv": list(self.argv),
            "created_at": self.created_at.isoformat(),
        }, indent=2)

    @classmethod
    def from_json(cls, text: str) -> RuntimeMeta:
        """Raises ValueError (or KeyError/TypeError) on a record it cannot read."""
        data = json.loads(text)
        version = int(data["format_version"])
        if version != META_FORMAT_VERSION:
            raise ValueError(f"unknown runtime meta format version {version}")
        return cls(
            instance_id=int(data["instance_id"]),
            name=str(data["name"]),
            argv=tuple(str(arg) for arg in data["argv"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            format_version=version,
        )


def instances_dir(state_dir: Path) -> Path:
    return state_dir / "instances"


def new_meta(instance_id: int, name: str, argv: Sequence[str]) -> RuntimeMeta:
    return RuntimeMeta(instance_id, name, tuple(argv), datetime.now(UTC))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_runtime_dir(layout: RuntimeLayout, meta: RuntimeMeta) -> None:
    """Create the (empty) directory and its meta.json. Raises OSError."""
    layout.root.mkdir(mode=0o700, parents=True)
    write_atomically(layout.meta, meta.to_json())


def read_meta(layout: RuntimeLayout) -> RuntimeMeta | None:
    """The instance's record, or None when missing or unreadable (logged)."""
    try:
        return RuntimeMeta.from_json(layout.meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("runtime dir %s: cannot read meta.json: %s", layout.root, exc)
        return None


def remove_runtime_dir(layout: RuntimeLayout) -> None:
    shutil.rmtree(layout.root, ignore_errors=True)


def qemu_ever_ran(layout: RuntimeLayout) -> bool:
    """True when QEMU left a trace in the runtime directory: its pidfile, the console
    log it creates when it opens its devices, or anything it said in qemu.log.

    A VM that ran and exited keeps its console log (QEMU removes its pidfile on a
    clean exit); a start interrupted before QEMU ran leaves none of these (qemu.log
    is opened by the agent, so it may exist, but empty)."""
    if layout.pidfile.exists() or layout.console_log.exists():
        return True
    try:
        return layout.qemu_log.stat().st_size > 0
    except FileNotFoundError:
        return False


def clear_unstarted(layout: RuntimeLayout, instance_id: int) -> bool:
    """Remove the runtime directory of an instance whose QEMU never ran, left by an
    agent that stopped in the middle of its start; True when removed.

    The instance is then absent, so a start the manager still wants is made again.
    Call it only when no start of this instance is under way in this process (the
    directory of a start under way looks the same until QEMU runs)."""
    if not layout.root.is_dir() or qemu_ever_ran(layout):
        return False
    log.warning("instance %d: its runtime directory %s was left by a start that never "
                "ran QEMU (the agent stopped mid-start); removing it: the instance is absent",
                instance_id, layout.root)
    remove_runtime_dir(layout)
    return True


def list_instance_ids(state_dir: Path) -> list[int]:
    """Ids of every instance with a runtime directory, sorted."""
    try:
        entries = list(instances_dir(state_dir).iterdir())
    except FileNotFoundError:
        return []
    return sorted(int(e.name) for e in entries
                  if e.name.isascii() and e.name.isdigit() and e.is_dir())


def read_pid(layout: RuntimeLayout) -> int | None:
    """The PID QEMU wrote in its pidfile, or None."""
    try:
        text = layout.pidfile.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def process_matches(pid: int, instance_id: int, pidfile: Path | None = None) -> bool:
    """True when ``pid`` is a live process whose argv holds ``-name tashi-<id>`` (and,
    when given, this runtime directory's ``pidfile``: instance ids repeat across clusters
    sharing a machine, runtime paths do not).

    Guards against PID reuse after the VM died; a zombie has an empty cmdline."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    args = raw.split(b"\0")
    if pidfile is not None and str(pidfile).encode() not in args:
        return False
    return vm_name(instance_id).encode() in args


def live_pid(layout: RuntimeLayout, instance_id: int) -> int | None:
    """The PID of the instance's QEMU if it is running, else None."""
    pid = read_pid(layout)
    if pid is not None and process_matches(pid, instance_id, layout.pidfile):
        return pid
    return None


def read_tail(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of ``path`` (b'' if it does not exist)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max(0, max_bytes)))
            return f.read()
    except FileNotFoundError:
        return b""
