"""Copy-on-write overlays for non-persistent disks.

A VM's writes land in a qcow2 overlay inside its runtime directory; the base
image is only ever read. Creating one writes metadata only, so it takes the
same few milliseconds whatever the size of the base.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.agent.drivers.base import DiskPlan
from tashi.common.qemu_img import QEMU_IMG, QemuImgError, image_info, run_qemu_img
from tashi.domain.errors import DriverError

log = logging.getLogger(__name__)


async def check_image(disk: DiskPlan, qemu_img: str = QEMU_IMG) -> None:
    """Raise DriverError unless ``disk.image_path`` is an image of the declared format.

    The format is declared, never probed, when QEMU opens the image; this check
    refuses a mismatch (e.g. a "raw" image that is really qcow2 with a backing file)."""
    if not disk.image_path.is_file():
        raise DriverError(f"image {disk.image_path} does not exist")
    try:
        info = await image_info(disk.image_path, qemu_img)
    except QemuImgError as exc:
        raise DriverError(f"cannot inspect image {disk.image_path}: {exc.stderr}") from exc
    if info.format != disk.format:
        raise DriverError(
            f"image {disk.image_path} is {info.format}, not {disk.format} as declared"
        )


async def create_overlay(disk: DiskPlan, overlay: Path, qemu_img: str = QEMU_IMG) -> None:
    """Create the qcow2 ``overlay`` backed by ``disk.image_path`` (as an absolute path)."""
    base = disk.image_path.absolute()
    args = ["create", "-q", "-f", "qcow2", "-F", str(disk.format), "-b", str(base), str(overlay)]
    try:
        await run_qemu_img(args, qemu_img)
    except QemuImgError as exc:
        raise DriverError(f"cannot create overlay of {base}: {exc.stderr}") from exc
    log.debug("overlay %s created over %s", overlay, base)
