"""The storage family: what provides an instance's disk on its host, one implementation
per disk kind (see :mod:`tashi.agent.drivers.composition` for how a host's are
chosen)."""

from tashi.agent.drivers.storage.base import DiskProvider, DiskTarget
from tashi.agent.drivers.storage.empty import BlankDisk, ScratchDisk
from tashi.agent.drivers.storage.image import ImageDisk
from tashi.agent.drivers.storage.overlay import OverlayDisk, check_image, create_overlay
from tashi.agent.drivers.storage.seed import SeedDisk

__all__ = ["BlankDisk", "DiskProvider", "DiskTarget", "ImageDisk", "OverlayDisk",
           "ScratchDisk", "SeedDisk", "check_image", "create_overlay"]
