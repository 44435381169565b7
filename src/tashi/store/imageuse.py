"""Who may use an image at once: a persistent disk writes the image itself, so it needs
the image to itself; overlays (non-persistent disks) read it, so any number may share
it while nobody writes it. Checked by both stores inside the transaction that creates
the instances, so two concurrent creations cannot both pass.

"In use" means by an instance that is not Exited (a Held instance may start again).
The images must exist when the instances are created, and an image cannot be deleted
while any instance (Exited too) has a disk on it: both checked in the store's
transactions, so a deletion racing a creation cannot leave an instance without its
image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tashi.domain.errors import Conflict, InvalidInput
from tashi.domain.models import Instance, NewInstance
from tashi.domain.states import InstanceState


@dataclass(frozen=True, slots=True)
class ImageUse:
    instance_id: int
    image: str
    persistent: bool


def uses_of(instances: Iterable[Instance]) -> list[ImageUse]:
    """The disks of the instances that are not Exited."""
    return [ImageUse(i.id, d.image, d.persistent) for i in instances
            if i.state is not InstanceState.EXITED for d in i.spec.disks if not d.empty]


def images_of(news: Sequence[NewInstance]) -> set[str]:
    return {d.image for n in news for d in n.spec.disks if not d.empty}


def check_images_exist(wanted: Iterable[str], known: Iterable[str]) -> None:
    """InvalidInput naming the first of ``wanted`` that is not a known image (one
    deleted since the caller looked, say)."""
    missing = sorted(set(wanted) - set(known))
    if missing:
        raise InvalidInput(f"unknown image {missing[0]!r} (see: tashi image list)")


def check_unused(image: str, users: Sequence[int]) -> None:
    """Conflict if instances (``users``: their ids, any state) still have a disk on the
    image: deleting it would leave them pointing at nothing."""
    if users:
        more = f" and {len(users) - 1} more" if len(users) > 1 else ""
        raise Conflict(f"image {image!r} is used by instance {users[0]}{more}; "
                       "destroy those first")


def check_image_use(news: Sequence[NewInstance], uses: Iterable[ImageUse]) -> None:
    """Conflict (naming the image and an instance) if ``news`` cannot use their images
    next to ``uses``, the live uses of those images."""
    live = list(uses)
    for new in news:
        for disk in (d for d in new.spec.disks if not d.empty):
            for use in live:
                if use.image != disk.image:
                    continue
                if disk.persistent:
                    raise Conflict(
                        f"image {disk.image!r} is in use by instance {use.instance_id}: "
                        "a persistent disk needs the image to itself")
                if use.persistent:
                    raise Conflict(
                        f"image {disk.image!r} is being written by instance "
                        f"{use.instance_id} (persistent disk): no overlay may read it now")
            if disk.persistent:  # the next news see this one
                live.append(ImageUse(0, disk.image, True))
