"""The QEMU driver against real QEMU (TCG here) and the tiny guest image."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from qemu.qmp import QMPClient

from tashi.agent.drivers.base import (
    DiskPlan,
    NicPlan,
    SeedFiles,
    VmRequest,
    VmStatus,
    capabilities_of,
)
from tashi.agent.drivers.qemu import QemuDriver, detect_accelerator
from tashi.agent.drivers.qemu.consolelog import rotate_if_large
from tashi.agent.drivers.qemu.qmp import qmp_execute
from tashi.agent.drivers.qemu.runtime import RuntimeLayout
from tashi.domain.capabilities import Ability
from tashi.domain.derive import Observed
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat

pytestmark = pytest.mark.e2e

READY = "TASHI-GUEST-READY"
DISK_WRITTEN = "TASHI-GUEST-DISK-WRITTEN"
BOOT_TIMEOUT_S = 90.0
GUEST_WRITE_OFFSET = 56 * 1024 * 1024  # where the guest writes on its disk
SRC = Path(__file__).resolve().parents[2] / "src"


def vm(instance_id: int, image: Path, *, persistent: bool = False,
       memory_mib: int = 128) -> VmRequest:
    return VmRequest(
        instance_id=instance_id, name=f"e2e-{instance_id}", cores=1, memory_mib=memory_mib,
        disks=(DiskPlan(image, ImageFormat.QCOW2, persistent),),
        nics=(NicPlan(f"52:54:00:00:00:{instance_id:02x}", "virtio", "user"),),
    )


def qemu_pids(state_dir: Path) -> list[int]:
    """Live processes whose command line mentions ``state_dir`` (our QEMUs)."""
    needle = str(state_dir).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def guest_wrote(image: Path, fmt: str, tmp_path: Path) -> bool:
    """Whether the guest's boot line is at its write offset in ``image``."""
    raw = tmp_path / "read-back.raw"
    subprocess.run(["qemu-img", "convert", "-f", fmt, "-O", "raw", str(image), str(raw)],
                   check=True)
    with raw.open("rb") as f:
        f.seek(GUEST_WRITE_OFFSET)
        found = f.read(64).startswith(b"tashi-guest boot")
    raw.unlink()
    return found


async def wait_console(driver: QemuDriver, instance_id: int, marker: str,
                       timeout_s: float = BOOT_TIMEOUT_S) -> float:
    """Seconds until ``marker`` shows on the serial console."""
    started = time.monotonic()
    while marker not in await driver.console(instance_id, 1 << 20):
        if time.monotonic() - started > timeout_s:
            tail = await driver.console(instance_id, 2000)
            pytest.fail(f"no {marker} within {timeout_s} s; console:\n{tail}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def only_status(driver: QemuDriver) -> VmStatus:
    (status,) = await driver.list_instances()
    return status


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
async def driver(state_dir: Path, qemu_tools: None) -> AsyncIterator[QemuDriver]:
    """A driver whose VMs are all destroyed afterwards; fails if a QEMU is left."""
    drv = QemuDriver(state_dir, detect_accelerator())
    yield drv
    for status in await drv.list_instances():
        await drv.destroy(status.instance_id)
    assert qemu_pids(state_dir) == [], "QEMU processes leaked"


async def test_start_boot_stop_destroy(driver: QemuDriver, state_dir: Path,
                                       guest_image: Path) -> None:
    started = time.monotonic()
    await driver.start(vm(1, guest_image))
    ready_s = time.monotonic() - started
    assert await only_status(driver) == VmStatus(1, Observed.RUNNING, "QMP status: running")
    await driver.start(vm(1, guest_image))  # idempotent: still the one VM
    assert len(qemu_pids(state_dir)) == 1
    boot_s = await wait_console(driver, 1, READY)
    # bound the console log now (tiny bounds): QEMU appends (append=on), so what it
    # writes next lands at the start of the truncated file, with no hole before it
    console_log = RuntimeLayout.of(state_dir, 1).console_log
    booted = console_log.read_bytes()
    assert rotate_if_large(console_log, "instance 1", max_bytes=100, keep_bytes=len(booted))

    started = time.monotonic()
    await driver.stop(1, timeout_s=30)
    stop_s = time.monotonic() - started
    status = await only_status(driver)
    assert status.observed is Observed.STOPPED
    assert "exited" in status.detail
    assert qemu_pids(state_dir) == []
    assert status.detail == "QEMU process exited with code 0 after the power button"
    later = await only_status(QemuDriver(state_dir, detect_accelerator()))
    assert later.detail == "QEMU process exited after the power button"
    written_after = console_log.read_bytes()
    assert b"TASHI-GUEST-POWEROFF" in written_after
    assert not written_after.startswith(b"\0")  # written at the end, not the old offset
    assert len(written_after) < len(booted)
    console = await driver.console(1, 64 * 1024)  # the rotated part and the new, as one
    assert console.endswith(written_after.decode("utf-8", errors="replace"))
    assert READY in console
    await driver.stop(1, timeout_s=30)  # already stopped: fine

    await driver.destroy(1)
    assert await driver.list_instances() == []
    assert not (state_dir / "instances" / "1").exists()
    await driver.destroy(1)  # already gone: fine
    print(f"\nQMP ready {ready_s:.2f} s, marker {ready_s + boot_s:.2f} s, stop {stop_s:.2f} s")


async def test_new_driver_readopts_a_running_vm(driver: QemuDriver, state_dir: Path,
                                                guest_image: Path) -> None:
    await driver.start(vm(2, guest_image))
    again = QemuDriver(state_dir, detect_accelerator())
    assert await only_status(again) == VmStatus(2, Observed.RUNNING, "QMP status: running")
    await wait_console(again, 2, READY)
    await again.stop(2, timeout_s=30)
    assert (await only_status(again)).observed is Observed.STOPPED
    assert (await only_status(driver)).observed is Observed.STOPPED
    assert qemu_pids(state_dir) == []


AGENT = """
import asyncio, sys
from pathlib import Path
from tashi.agent.drivers.base import DiskPlan, NicPlan, VmRequest
from tashi.agent.drivers.qemu import QemuDriver, detect_accelerator
from tashi.agent.drivers.qemu.consolelog import rotate_if_large
from tashi.domain.models import ImageFormat

async def main() -> None:
    driver = QemuDriver(Path(sys.argv[1]), detect_accelerator())
    disk = DiskPlan(Path(sys.argv[2]), ImageFormat.QCOW2, False)
    nic = NicPlan("52:54:00:00:00:03", "virtio", "user")
    await driver.start(VmRequest(3, "e2e-3", 1, 128, (disk,), (nic,)))
    print("started", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_vm_survives_an_agent_killed_with_sigkill(
    driver: QemuDriver, state_dir: Path, guest_image: Path
) -> None:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, str(state_dir), str(guest_image),
        stdout=asyncio.subprocess.PIPE, env=env,
    )
    assert agent.stdout is not None
    try:
        line = await asyncio.wait_for(agent.stdout.readline(), 60)
    finally:
        agent.kill()
        await agent.wait()
    assert line == b"started\n"
    assert await only_status(driver) == VmStatus(3, Observed.RUNNING, "QMP status: running")
    await wait_console(driver, 3, READY)
    await driver.stop(3, timeout_s=30)
    assert (await only_status(driver)).observed is Observed.STOPPED


async def test_base_image_is_never_written(driver: QemuDriver, state_dir: Path,
                                           guest_image: Path, tmp_path: Path) -> None:
    before = sha256(guest_image)
    await driver.start(vm(4, guest_image))
    await wait_console(driver, 4, READY)
    assert DISK_WRITTEN in await driver.console(4, 1 << 20)
    await driver.stop(4, timeout_s=30)
    overlay = RuntimeLayout.of(state_dir, 4).overlay(0)
    assert guest_wrote(overlay, "qcow2", tmp_path)  # the write went to the overlay
    await driver.destroy(4)
    assert sha256(guest_image) == before


async def test_persistent_disk_is_written(driver: QemuDriver, state_dir: Path,
                                          guest_image: Path, tmp_path: Path) -> None:
    own = tmp_path / "own.qcow2"
    shutil.copyfile(guest_image, own)
    await driver.start(vm(5, own, persistent=True))
    assert not RuntimeLayout.of(state_dir, 5).overlay(0).exists()
    await wait_console(driver, 5, READY)
    await driver.stop(5, timeout_s=30)
    assert guest_wrote(own, "qcow2", tmp_path)


async def test_paused_vm_is_listed_paused_and_killed_on_stop_timeout(
    driver: QemuDriver, state_dir: Path, guest_image: Path
) -> None:
    await driver.start(vm(6, guest_image))
    await qmp_execute(RuntimeLayout.of(state_dir, 6).qmp_socket, "stop")  # ignores ACPI now
    assert (await only_status(driver)).observed is Observed.PAUSED
    started = time.monotonic()
    await driver.stop(6, timeout_s=1)
    assert 1 <= time.monotonic() - started < 15
    assert await only_status(driver) == VmStatus(
        6, Observed.STOPPED, "QEMU process killed by signal 9 (by the agent: still running "
        "1 s after the power button)")
    assert qemu_pids(state_dir) == []
    # an agent started later (not QEMU's parent) still says how it ended
    assert await only_status(QemuDriver(state_dir, detect_accelerator())) == VmStatus(
        6, Observed.STOPPED, "QEMU process killed by the agent: still running 1 s after "
        "the power button")


#: A guest that no longer hears the power button (its acpid killed once booted).
DEAF = SeedFiles("local-hostname: deaf\n", "#!/bin/sh\nkillall acpid\necho TASHI-DEAF\n")


async def test_the_shutdown_timeout_counts_from_the_first_press_across_agent_restarts(
    driver: QemuDriver, state_dir: Path, guest_image: Path
) -> None:
    """Three agents die while they wait on a guest that ignores the button; the fourth
    kills it when the timeout (8 s) has passed since the first press, not 8 s after
    its own (as every restart did before: 4 restarts, 49.7 s for a timeout of 20)."""
    plain = vm(14, guest_image)
    await driver.start(replace(plain, disks=(*plain.disks, DiskPlan(
        None, ImageFormat.RAW, False, seed=DEAF))))
    await wait_console(driver, 14, "TASHI-DEAF")
    pressed = time.monotonic()
    for _ in range(3):
        dying = asyncio.create_task(QemuDriver(state_dir, detect_accelerator()).stop(14, 8))
        await asyncio.sleep(2)
        dying.cancel()
        await asyncio.gather(dying, return_exceptions=True)
    await QemuDriver(state_dir, detect_accelerator()).stop(14, 8)
    took = time.monotonic() - pressed
    assert 8 <= took < 11, took
    assert await only_status(driver) == VmStatus(  # its parent, which saw the signal
        14, Observed.STOPPED, "QEMU process killed by signal 9 (by the agent: still running "
        "8 s after the power button)")


async def test_busy_qmp_does_not_fail_the_listing(driver: QemuDriver, state_dir: Path,
                                                  guest_image: Path) -> None:
    await driver.start(vm(12, guest_image))
    holder = QMPClient("test-holder")  # QEMU serves one QMP client at a time
    await holder.connect(str(RuntimeLayout.of(state_dir, 12).qmp_socket))
    try:
        started = time.monotonic()
        assert await only_status(driver) == VmStatus(12, Observed.RUNNING, "QMP not answering")
        assert time.monotonic() - started < 5
    finally:
        await holder.disconnect()
    await driver.destroy(12)


async def test_missing_image_fails_and_leaves_nothing(driver: QemuDriver,
                                                      state_dir: Path) -> None:
    with pytest.raises(DriverError, match="does not exist"):
        await driver.start(vm(7, state_dir / "no-such.qcow2"))
    assert not (state_dir / "instances" / "7").exists()
    assert await driver.list_instances() == []


async def test_qemu_failure_is_reported_with_its_output(driver: QemuDriver, state_dir: Path,
                                                        guest_image: Path) -> None:
    with pytest.raises(DriverError) as caught:
        await driver.start(vm(8, guest_image, memory_mib=1_000_000_000))
    message = caught.value.message
    assert "exited with code 1" in message
    assert "command: qemu-system-x86_64 -name tashi-8" in message
    assert "cannot set up guest memory" in message  # from qemu.log
    assert not (state_dir / "instances" / "8").exists()
    assert qemu_pids(state_dir) == []


async def test_start_timeout_kills_and_cleans_up(state_dir: Path, guest_image: Path,
                                                 tmp_path: Path) -> None:
    hanging = tmp_path / "hanging-qemu"
    hanging.write_text("#!/bin/sh\necho 'pretending to start'\nexec sleep 60\n")
    hanging.chmod(0o755)
    drv = QemuDriver(state_dir, detect_accelerator(), str(hanging), start_timeout_s=1)
    with pytest.raises(DriverError, match=r"QMP not ready after 1 s(.|\n)*pretending to start"):
        await drv.start(vm(9, guest_image))
    assert not (state_dir / "instances" / "9").exists()
    assert qemu_pids(state_dir) == []


async def test_missing_binary_is_a_driver_error(state_dir: Path, guest_image: Path) -> None:
    drv = QemuDriver(state_dir, detect_accelerator(), "/nonexistent/qemu")
    with pytest.raises(DriverError, match="cannot run /nonexistent/qemu"):
        await drv.start(vm(10, guest_image))
    assert not (state_dir / "instances" / "10").exists()


async def test_absent_instance(driver: QemuDriver) -> None:
    assert await driver.list_instances() == []
    assert await driver.console(11, 100) == ""
    await driver.stop(11, timeout_s=1)
    await driver.destroy(11)


async def test_host_info_and_capabilities(driver: QemuDriver) -> None:
    info = await driver.host_info()
    assert info.cores == os.cpu_count()
    assert info.memory_mib > 0
    assert info.hypervisor in ("qemu-tcg", "qemu-kvm")
    caps = await capabilities_of(driver)
    assert caps.abilities == {Ability.CONSOLE, Ability.PAUSE, Ability.REBOOT, Ability.SUSPEND,
                              Ability.LIVE_MIGRATION,
                              Ability.VNC}
    assert caps.facts.hypervisor == "qemu"
    assert driver.name == "qemu"
