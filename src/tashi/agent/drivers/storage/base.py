"""The storage family's contract: check, place and provide one disk of an instance.

A provider serves the disks of one :class:`~tashi.domain.capabilities.DiskKind`. The
hypervisor driver asks it where the disk will be (:meth:`DiskProvider.target`, pure,
so the VM's command line is known before anything is made), checks it before anything
is created, and has it provided inside the instance's fresh runtime directory. Every
method may raise :class:`~tashi.domain.errors.DriverError`, naming the disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tashi.agent.drivers.base import DiskPlan
from tashi.domain.capabilities import DiskKind
from tashi.domain.models import ImageFormat


@dataclass(frozen=True, slots=True)
class DiskTarget:
    """Where the hypervisor opens a disk, and in which format (declared, never probed)."""

    path: Path
    format: ImageFormat


class DiskProvider(Protocol):
    """Provides the disks of one kind."""

    @property
    def kind(self) -> DiskKind: ...

    def target(self, disk: DiskPlan, slot: Path) -> DiskTarget:
        """Pure: where the hypervisor will find ``disk``. ``slot`` is a path kept for this
        disk in the instance's runtime directory, for a provider that makes a file of
        its own there; the same answer on every call."""
        ...

    async def check(self, disk: DiskPlan) -> None:
        """Cheap, creates nothing: DriverError unless ``disk`` can be provided (its image
        exists and is of the declared format)."""
        ...

    async def provide(self, disk: DiskPlan, target: DiskTarget) -> None:
        """Make ``target`` ready, during a start, after :meth:`check`. What it makes lives
        in the instance's runtime directory and goes with it; a repeat makes it anew.
        On failure raises DriverError (the start then removes the directory)."""
        ...
