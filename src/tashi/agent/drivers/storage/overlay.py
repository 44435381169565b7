"""``overlay`` disks: a private copy-on-write qcow2 overlay over a shared image.

A VM's writes land in the overlay inside its runtime directory; the base image is
only ever read. Creating one writes metadata only, so it takes the same few
milliseconds whatever the size of the base.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage.base import DiskTarget
from tashi.common.qemu_img import QEMU_IMG, QemuImgError, image_info, run_qemu_img
from tashi.domain.capabilities import DiskKind
from tashi.domain.errors import DriverError
from tashi.domain.models import ImageFormat

log = logging.getLogger(__name__)


async def check_image(disk: DiskPlan, qemu_img: str = QEMU_IMG) -> None:
    """Raise DriverError unless ``disk.image_path`` is an image of the declared format.

    The format is declared, never probed, when QEMU opens the image; this check
    refuses a mismatch (e.g. a "raw" image that is really qcow2 with a backing file)."""
    path = disk.image()
    if not path.is_file():
        raise DriverError(f"image {path} does not exist")
    try:
        info = await image_info(path, qemu_img)
    except QemuImgError as exc:
        raise DriverError(f"cannot inspect image {path}: {exc.stderr}") from exc
    if info.format != disk.format:
        raise DriverError(f"image {path} is {info.format}, not {disk.format} as declared")


async def create_overlay(disk: DiskPlan, overlay: Path, qemu_img: str = QEMU_IMG) -> None:
    """Create the qcow2 ``overlay`` backed by ``disk.image_path`` (as an absolute path)."""
    base = disk.image().absolute()
    args = ["create", "-q", "-f", "qcow2", "-F", str(disk.format), "-b", str(base), str(overlay)]
    try:
        await run_qemu_img(args, qemu_img)
    except QemuImgError as exc:
        raise DriverError(f"cannot create overlay of {base}: {exc.stderr}") from exc
    log.debug("overlay %s created over %s", overlay, base)


class OverlayDisk:
    """Non-persistent disks: the overlay is the disk's ``slot`` file."""

    def __init__(self, qemu_img: str = QEMU_IMG) -> None:
        self._qemu_img = qemu_img

    @property
    def kind(self) -> DiskKind:
        return DiskKind.OVERLAY

    def target(self, disk: DiskPlan, slot: Path) -> DiskTarget:
        return DiskTarget(slot, ImageFormat.QCOW2)

    async def check(self, disk: DiskPlan) -> None:
        await check_image(disk, self._qemu_img)

    async def provide(self, disk: DiskPlan, target: DiskTarget) -> None:
        await create_overlay(disk, target.path, self._qemu_img)
