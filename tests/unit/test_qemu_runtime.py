"""The per-instance runtime directory: records, listing, and the PID-reuse guard."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tashi.agent.drivers.qemu.runtime import (
    RuntimeLayout,
    RuntimeMeta,
    clear_unstarted,
    create_runtime_dir,
    list_instance_ids,
    live_pid,
    new_meta,
    process_matches,
    qemu_ever_ran,
    read_meta,
    read_pid,
    read_tail,
    write_atomically,
)


@pytest.fixture
def layout(tmp_path: Path) -> RuntimeLayout:
    return RuntimeLayout.of(tmp_path, 7)


def test_paths(tmp_path: Path) -> None:
    layout = RuntimeLayout.of(tmp_path, 7)
    assert layout.root == tmp_path / "instances" / "7"
    names = [p.name for p in (layout.meta, layout.qmp_socket, layout.console_log,
                              layout.qemu_log, layout.pidfile, layout.overlay(1))]
    assert names == ["meta.json", "qmp.sock", "console.log", "qemu.log", "qemu.pid",
                     "disk1.qcow2"]


def test_meta_round_trip(layout: RuntimeLayout) -> None:
    meta = new_meta(7, "web", ["qemu", "-name", "tashi-7"])
    create_runtime_dir(layout, meta)
    assert read_meta(layout) == meta
    data = json.loads(layout.meta.read_text())
    assert data["format_version"] == 1
    assert data["argv"] == ["qemu", "-name", "tashi-7"]
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None
    assert sorted(p.name for p in layout.root.iterdir()) == ["meta.json"]  # no temp left


def test_unknown_meta_version_is_not_read(layout: RuntimeLayout) -> None:
    layout.root.mkdir(parents=True)
    meta = RuntimeMeta(7, "web", (), datetime.now(UTC), format_version=99)
    layout.meta.write_text(meta.to_json())
    assert read_meta(layout) is None
    layout.meta.write_text("{not json")
    assert read_meta(layout) is None
    layout.meta.unlink()
    assert read_meta(layout) is None


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_atomically(target, "one")
    write_atomically(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_create_refuses_an_existing_dir(layout: RuntimeLayout) -> None:
    create_runtime_dir(layout, new_meta(7, "web", []))
    with pytest.raises(FileExistsError):
        create_runtime_dir(layout, new_meta(7, "web", []))


def test_listing(tmp_path: Path) -> None:
    assert list_instance_ids(tmp_path) == []
    for name in ("12", "3", "junk", ".tmp5"):
        (tmp_path / "instances" / name).mkdir(parents=True)
    (tmp_path / "instances" / "40").write_text("a file, not a dir")
    assert list_instance_ids(tmp_path) == [3, 12]


def test_read_pid(layout: RuntimeLayout) -> None:
    assert read_pid(layout) is None
    layout.root.mkdir(parents=True)
    layout.pidfile.write_text("1234\n")
    assert read_pid(layout) == 1234
    layout.pidfile.write_text("garbage")
    assert read_pid(layout) is None


@pytest.fixture
def fake_vm() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose argv carries ``tashi-7``, like QEMU's ``-name tashi-7``."""
    script = "import time; print('up', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", script, "tashi-7", "-pidfile", "/a/qemu.pid"],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"up\n"  # exec'd: its cmdline is its own now
    yield proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_process_matches_by_name(fake_vm: subprocess.Popen[bytes]) -> None:
    assert process_matches(fake_vm.pid, 7)
    assert not process_matches(fake_vm.pid, 70)  # whole argument, not a prefix
    assert not process_matches(fake_vm.pid, 8)


def test_process_matches_only_its_own_runtime_dir(fake_vm: subprocess.Popen[bytes]) -> None:
    assert process_matches(fake_vm.pid, 7, Path("/a/qemu.pid"))
    assert not process_matches(fake_vm.pid, 7, Path("/b/qemu.pid"))  # another cluster's VM 7


def test_dead_or_reused_pid_is_not_live(layout: RuntimeLayout) -> None:
    layout.root.mkdir(parents=True)
    script = "import time; print('up', flush=True); time.sleep(60)"
    vm = subprocess.Popen([sys.executable, "-c", script, "tashi-7", "-pidfile",
                           str(layout.pidfile)], stdout=subprocess.PIPE)
    assert vm.stdout is not None
    assert vm.stdout.readline() == b"up\n"
    vm.stdout.close()
    layout.pidfile.write_text(f"{vm.pid}\n")
    assert live_pid(layout, 7) == vm.pid
    assert live_pid(RuntimeLayout.of(layout.root.parent.parent, 8), 8) is None
    vm.kill()
    vm.wait()
    assert live_pid(layout, 7) is None
    other = subprocess.Popen(["sleep", "60"])  # another process, as after PID reuse
    try:
        layout.pidfile.write_text(f"{other.pid}\n")
        assert live_pid(layout, 7) is None
    finally:
        other.kill()
        other.wait()


def test_read_tail(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    assert read_tail(path, 10) == b""
    path.write_bytes(b"0123456789abcdef")
    assert read_tail(path, 4) == b"cdef"
    assert read_tail(path, 100) == b"0123456789abcdef"
    assert read_tail(path, 0) == b""


def _interrupted_start(layout: RuntimeLayout) -> None:
    """What a start leaves when the agent dies before QEMU runs: meta.json, an overlay,
    and (if it got that far) the empty qemu.log it opened for QEMU's output."""
    create_runtime_dir(layout, new_meta(7, "web", ["qemu", "-name", "tashi-7"]))
    layout.overlay(0).write_bytes(b"QFI\xfb")


def test_a_start_that_never_ran_qemu_is_cleared(layout: RuntimeLayout,
                                                caplog: pytest.LogCaptureFixture) -> None:
    _interrupted_start(layout)
    assert not qemu_ever_ran(layout)
    layout.qemu_log.touch()  # opened by the agent, QEMU never ran
    assert not qemu_ever_ran(layout)
    with caplog.at_level(logging.WARNING):
        assert clear_unstarted(layout, 7)
    assert not layout.root.exists()
    assert "instance 7:" in caplog.text
    assert "never ran QEMU" in caplog.text
    assert list_instance_ids(layout.root.parent.parent) == []
    assert not clear_unstarted(layout, 7)  # nothing left: nothing to do


@pytest.mark.parametrize("trace", ["console", "pidfile", "qemu-said"])
def test_a_vm_that_ran_is_kept(layout: RuntimeLayout, trace: str) -> None:
    """A VM that ran and exited is still reported as exited: its directory stays."""
    _interrupted_start(layout)
    layout.qemu_log.touch()
    if trace == "console":  # exited cleanly: QEMU removed its pidfile, the console stays
        layout.console_log.write_bytes(b"")
    elif trace == "pidfile":  # killed: the stale pidfile stays
        layout.pidfile.write_text("4242\n")
    else:  # QEMU refused its command line before opening anything
        layout.qemu_log.write_text("qemu-system-x86_64: -m 0M: invalid size\n")
    assert qemu_ever_ran(layout)
    assert not clear_unstarted(layout, 7)
    assert read_meta(layout) is not None
    assert list_instance_ids(layout.root.parent.parent) == [7]
