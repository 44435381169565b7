"""The disks a user asks for beyond the boot disk, checked and made into specs.

Each is one of: a disk from another image (an overlay over it, or the image itself when
persistent: the owner's own images only), a blank qcow2 disk of a size, or a sparse
scratch file of a size in the host's scratch space; on a bus (virtio, scsi, ide) with a
cache mode. Blank and scratch disks count against the host's disk claim. The CLI's
``--disk SPEC`` is :mod:`tashi.cli.diskspec`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tashi.domain.errors import InvalidInput
from tashi.domain.models import DiskBus, DiskCache, DiskSpec
from tashi.domain.resources import MAX_DISK_GIB, MAX_DISKS


@dataclass(frozen=True, slots=True)
class DiskRequest:
    """One extra disk: exactly one of ``image``, ``size_gib`` (blank) or ``scratch_gib``."""

    image: str | None = None
    persistent: bool = False
    size_gib: int | None = None
    scratch_gib: int | None = None
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK


def disk_specs(boot: DiskSpec, requests: Sequence[DiskRequest], scratch_gib: int,
               resolve: Callable[[str, bool], str]) -> tuple[DiskSpec, ...]:
    """The boot disk, then the requested ones, then (``scratch_gib`` > 0, the API's older
    shorthand) one scratch disk of that size. ``resolve(image, persistent)`` gives the key
    of the image a user named, or raises InvalidInput. InvalidInput names what is wrong."""
    disks = [boot, *(_spec(n, r, resolve) for n, r in enumerate(requests, start=1))]
    if scratch_gib:
        disks.append(DiskSpec(size_gib=_size(len(disks), scratch_gib), scratch=True))
    if len(disks) > MAX_DISKS:
        raise InvalidInput(f"{len(disks)} disks asked; an instance has at most {MAX_DISKS}")
    return tuple(disks)


def _spec(n: int, r: DiskRequest, resolve: Callable[[str, bool], str]) -> DiskSpec:
    given = [k for k, v in (("image", r.image), ("size", r.size_gib),
                            ("scratch", r.scratch_gib)) if v is not None]
    if len(given) != 1:
        raise InvalidInput(f"disk {n}: give exactly one of image=NAME, size=GiB or "
                           f"scratch=GiB (got {', '.join(given) or 'none'})")
    if r.persistent and r.image is None:
        raise InvalidInput(f"disk {n}: persistent goes with image=NAME")
    if r.image is not None:
        return DiskSpec(image=resolve(r.image, r.persistent), persistent=r.persistent,
                        bus=r.bus, cache=r.cache)
    size = r.size_gib if r.size_gib is not None else r.scratch_gib
    return DiskSpec(size_gib=_size(n, int(size or 0)), scratch=r.scratch_gib is not None,
                    bus=r.bus, cache=r.cache)


def _size(n: int, gib: int) -> int:
    if not 1 <= gib <= MAX_DISK_GIB:
        raise InvalidInput(f"disk {n}: size must be between 1 and {MAX_DISK_GIB} GiB, "
                           f"got {gib}")
    return gib
