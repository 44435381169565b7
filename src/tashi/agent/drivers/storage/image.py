"""``image`` disks: the image itself, written to (persistent disks). The store sees to
it that no two instances have the same persistent image open."""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage.base import DiskTarget
from tashi.agent.drivers.storage.overlay import check_image
from tashi.common.qemu_img import QEMU_IMG
from tashi.domain.capabilities import DiskKind

log = logging.getLogger(__name__)


class ImageDisk:
    """Nothing to make: the hypervisor opens the image (as an absolute path)."""

    def __init__(self, qemu_img: str = QEMU_IMG) -> None:
        self._qemu_img = qemu_img

    @property
    def kind(self) -> DiskKind:
        return DiskKind.IMAGE

    def target(self, disk: DiskPlan, slot: Path) -> DiskTarget:
        return DiskTarget(disk.image().absolute(), disk.format)

    async def check(self, disk: DiskPlan) -> None:
        await check_image(disk, self._qemu_img)

    async def provide(self, disk: DiskPlan, target: DiskTarget) -> None:
        log.debug("disk %s: the image itself, nothing to make", target.path)
