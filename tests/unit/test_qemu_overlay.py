"""Overlays and image inspection with the real qemu-img (fast: metadata only)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage.overlay import check_image, create_overlay
from tashi.common.qemu_img import QemuImgError, image_info, run_qemu_img
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat


def make_image(path: Path, fmt: str, size: str) -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], check=True)
    return path


async def test_overlay_time_does_not_depend_on_image_size(tmp_path: Path) -> None:
    timings = {}
    for size in ("64M", "20G"):
        base = make_image(tmp_path / f"base-{size}.raw", "raw", size)
        disk = DiskPlan(base, ImageFormat.RAW, persistent=False)
        await check_image(disk)
        overlay = tmp_path / f"overlay-{size}.qcow2"
        started = time.monotonic()
        await create_overlay(disk, overlay)
        timings[size] = time.monotonic() - started
        info = await image_info(overlay)
        assert info.format == "qcow2"
        assert info.backing_file == str(base)
        assert info.virtual_size_bytes == (await image_info(base)).virtual_size_bytes
    assert timings["20G"] < 2.0
    print(f"\noverlay creation: {timings}")


async def test_relative_base_is_recorded_absolute(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    make_image(tmp_path / "base.qcow2", "qcow2", "16M")
    monkeypatch.chdir(tmp_path)
    disk = DiskPlan(Path("base.qcow2"), ImageFormat.QCOW2, persistent=False)
    await create_overlay(disk, tmp_path / "overlay.qcow2")
    info = await image_info(tmp_path / "overlay.qcow2")
    assert info.backing_file == str(tmp_path / "base.qcow2")


async def test_image_info(tmp_path: Path) -> None:
    info = await image_info(make_image(tmp_path / "a.qcow2", "qcow2", "1G"))
    assert info.format == "qcow2"
    assert info.virtual_size_bytes == 1 << 30
    assert 0 < info.actual_size_bytes < 1 << 20
    assert info.backing_file is None


async def test_declared_format_must_match(tmp_path: Path) -> None:
    """A qcow2 file declared raw is refused (it could name any backing file)."""
    image = make_image(tmp_path / "sneaky.img", "qcow2", "16M")
    with pytest.raises(DriverError, match="is qcow2, not raw"):
        await check_image(DiskPlan(image, ImageFormat.RAW, persistent=False))


async def test_missing_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DriverError, match="does not exist"):
        await check_image(DiskPlan(tmp_path / "nope", ImageFormat.RAW, persistent=False))


async def test_overlay_failure_carries_qemu_img_message(tmp_path: Path) -> None:
    disk = DiskPlan(tmp_path / "nope.qcow2", ImageFormat.QCOW2, persistent=False)
    with pytest.raises(DriverError, match="cannot create overlay") as caught:
        await create_overlay(disk, tmp_path / "overlay.qcow2")
    assert isinstance(caught.value.__cause__, QemuImgError)
    assert "nope.qcow2" in caught.value.message
    assert not (tmp_path / "overlay.qcow2").exists()


async def test_missing_tool(tmp_path: Path) -> None:
    with pytest.raises(QemuImgError, match="/nonexistent/qemu-img"):
        await run_qemu_img(["info", str(tmp_path)], qemu_img="/nonexistent/qemu-img")
