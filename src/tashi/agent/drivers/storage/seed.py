"""``seed`` disks: a cloud-init NoCloud seed, an ISO 9660 image labelled ``cidata``
holding ``meta-data`` and ``user-data`` (with Rock Ridge and Joliet names, as
``genisoimage -volid cidata -joliet -rock`` makes it), written in the instance's runtime
directory and attached read-only. Built in Python (pycdlib): no tool on the host."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pycdlib

from tashi.agent.drivers.base import DiskPlan, SeedFiles
from tashi.agent.drivers.storage.base import DiskTarget
from tashi.common.qemu_img import QEMU_IMG
from tashi.domain.capabilities import DiskKind
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat

log = logging.getLogger(__name__)
LABEL = "cidata"


class SeedDisk:
    """The seed ISO in the disk's ``slot`` (``.iso``)."""

    def __init__(self, qemu_img: str = QEMU_IMG) -> None:  # the registry's signature
        del qemu_img

    @property
    def kind(self) -> DiskKind:
        return DiskKind.SEED

    def target(self, disk: DiskPlan, slot: Path) -> DiskTarget:
        return DiskTarget(slot.with_suffix(".iso"), ImageFormat.RAW)

    async def check(self, disk: DiskPlan) -> None:
        if disk.seed is None:
            raise DriverError("a seed disk without its files")

    async def provide(self, disk: DiskPlan, target: DiskTarget) -> None:
        if disk.seed is None:
            raise DriverError("a seed disk without its files")
        await asyncio.to_thread(write_seed, target.path, disk.seed)
        log.debug("seed disk %s written", target.path)


def write_seed(path: Path, seed: SeedFiles) -> None:
    """Write the NoCloud ISO of ``seed`` to ``path`` (DriverError if it cannot be)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    try:
        for name, text in (("meta-data", seed.meta_data), ("user-data", seed.user_data)):
            data = text.encode()
            iso.add_fp(io.BytesIO(data), len(data), f"/{name.upper().replace('-', '_')}.;1",
                       rr_name=name, joliet_path=f"/{name}")
        iso.write(str(path))
    except (OSError, pycdlib.pycdlibexception.PyCdlibException) as exc:
        raise DriverError(f"cannot write seed disk {path}: {exc}") from exc
    finally:
        iso.close()
