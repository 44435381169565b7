"""The storage family: what provides an instance's disk on its host, one implementation
per disk kind (see :mod:`tashi.agent.drivers.composition` for how a host's are
chosen)."""

from tashi.agent.drivers.storage.base import DiskProvider, DiskTarget
from tashi.agent.drivers.storage.image import ImageDisk
from tashi.agent.drivers.storage.overlay import OverlayDisk, check_image, create_overlay

__all__ = ["DiskProvider", "DiskTarget", "ImageDisk", "OverlayDisk", "check_image",
           "create_overlay"]
