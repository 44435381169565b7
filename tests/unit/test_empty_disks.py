"""Blank and scratch disks: made in constant time whatever their size."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage import BlankDisk, ScratchDisk
from tashi.common.qemu_img import image_info
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat

GIB = 1024**3


def plan(gib: int, *, scratch: bool) -> DiskPlan:
    return DiskPlan(None, ImageFormat.RAW if scratch else ImageFormat.QCOW2, False,
                    size_gib=gib, scratch=scratch)


async def test_a_scratch_disk_is_a_sparse_file_of_its_size(tmp_path: Path) -> None:
    disk, provider = plan(100, scratch=True), ScratchDisk()
    target = provider.target(disk, tmp_path / "disk1.qcow2")
    assert (target.path.name, target.format) == ("disk1.raw", ImageFormat.RAW)
    await provider.check(disk)
    started = time.monotonic()
    await provider.provide(disk, target)
    assert time.monotonic() - started < 1.0
    st = os.stat(target.path)
    assert st.st_size == 100 * GIB
    assert st.st_blocks == 0  # nothing allocated
    assert st.st_mode & 0o777 == 0o600
    with pytest.raises(DriverError, match="cannot create scratch disk"):
        await provider.provide(disk, target)  # never over an existing file


async def test_a_blank_disk_is_qcow2_of_its_size(tmp_path: Path) -> None:
    disk, provider = plan(50, scratch=False), BlankDisk()
    target = provider.target(disk, tmp_path / "disk2.qcow2")
    await provider.provide(disk, target)
    info = await image_info(target.path)
    assert (info.format, info.virtual_size_bytes) == ("qcow2", 50 * GIB)
    assert target.path.stat().st_size < 1024 * 1024


async def test_an_empty_disk_needs_a_size() -> None:
    for provider in (BlankDisk(), ScratchDisk()):
        with pytest.raises(DriverError, match="needs a size of at least 1 GiB"):
            await provider.check(plan(0, scratch=isinstance(provider, ScratchDisk)))
