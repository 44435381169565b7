"""The QEMU driver's saved states on real QEMU, below the manager: a suspend interrupted
between its steps (an agent killed) is finished by the next agent's repeat, and a
restore that fails leaves the saved state whole and nothing running."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tashi.agent.drivers.qemu import QemuDriver, detect_accelerator
from tashi.agent.drivers.qemu.qmp import qmp_execute
from tashi.agent.drivers.qemu.runtime import RuntimeLayout
from tashi.agent.drivers.qemu.savedstate import SavedState, save_memory
from tashi.domain.derive import Observed
from tashi.domain.errors import DriverError
from tests.e2e.test_qemu_driver import qemu_pids, vm

pytestmark = pytest.mark.e2e

IID = 31


async def console_has(driver: QemuDriver, marker: str, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        text = await driver.console(IID, 1 << 20)
        if marker in text:
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker} within {timeout_s} s; console:\n{text[-2000:]}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def booted(tmp_path: Path, guest_image: Path,
                 qemu_tools: None) -> AsyncIterator[tuple[QemuDriver, Path]]:
    """A running VM (instance 31) of the guest image, and where to save it; every QEMU
    gone afterwards."""
    state = tmp_path / "state"
    driver = QemuDriver(state, detect_accelerator())
    await driver.start(vm(IID, guest_image))
    await console_has(driver, "TASHI-GUEST-TICK 1")
    try:
        yield driver, tmp_path / "suspend" / str(IID)
    finally:
        fresh = QemuDriver(state, detect_accelerator())
        for status in await fresh.list_instances():
            await fresh.destroy(status.instance_id)
        assert qemu_pids(state) == [], "QEMU processes leaked"


async def test_a_suspend_interrupted_after_the_save_is_finished_by_a_repeat(
        booted: tuple[QemuDriver, Path], tmp_path: Path, guest_image: Path) -> None:
    _driver, path = booted
    layout = RuntimeLayout.of(tmp_path / "state", IID)
    saved = SavedState(path)
    path.mkdir(parents=True)
    # what an agent killed right after QEMU quit leaves: memory saved, disks not moved
    await save_memory(layout.qmp_socket, saved, "test", 60, lambda _pct: None)
    await qmp_execute(layout.qmp_socket, "quit")
    for _ in range(100):
        if not layout.pidfile.exists():
            break
        await asyncio.sleep(0.05)
    assert not saved.complete()
    restarted = QemuDriver(tmp_path / "state", detect_accelerator())  # the next agent
    (status,) = await restarted.list_instances()
    assert status.observed is Observed.STOPPED
    await restarted.suspend(IID, path)
    assert restarted.saved(path)
    assert (path / "disk0.qcow2").exists()
    assert await restarted.list_instances() == []
    assert not layout.root.exists()
    await restarted.suspend(IID, path)  # a repeat once done: nothing to do
    await restarted.resume(vm(IID, guest_image), path)
    text = await console_has(restarted, "TASHI-GUEST-TICK")
    assert "TASHI-GUEST-READY" not in text, "it booted again instead of going on"
    assert not path.exists()
    (status,) = await restarted.list_instances()
    assert status.observed is Observed.RUNNING


async def test_a_failed_restore_leaves_the_saved_state_whole(
        booted: tuple[QemuDriver, Path], tmp_path: Path, guest_image: Path) -> None:
    driver, path = booted
    await driver.suspend(IID, path)
    memory = path / "memory"
    good = memory.read_bytes()
    memory.write_bytes(good[: len(good) // 3])  # a truncated stream: the restore fails
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(DriverError, match="restoring its state"):
        await driver.resume(vm(IID, guest_image), path)
    assert sorted(p.name for p in path.iterdir()) == before
    assert await driver.list_instances() == []
    assert qemu_pids(tmp_path / "state") == []
    memory.write_bytes(good)  # the state as it was saved: the resume works
    await driver.resume(vm(IID, guest_image), path)
    await console_has(driver, "TASHI-GUEST-TICK")
    assert not path.exists()
