"""A host's network and storage implementations, composed per kind the way Ironic
composes interfaces into a hardware type: for each network kind the NIC provider, for
each disk kind the disk provider. The hypervisor driver asks its composition for
every NIC and disk of a VM; what the composition holds is what the host reports it
serves (network kinds, disk kinds).

:data:`NIC_PROVIDERS` and :data:`DISK_PROVIDERS` are the one registry of each family;
:func:`compose` builds a host's composition from them. A new kind (bridged networks,
scratch files, LVM volumes) is one implementation and one line here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from tashi.agent.drivers.base import DiskPlan, NicPlan, VmRequest
from tashi.agent.drivers.network import NicBackend, NicProvider, UserNic
from tashi.agent.drivers.storage import (
    BlankDisk,
    DiskProvider,
    DiskTarget,
    ImageDisk,
    OverlayDisk,
    ScratchDisk,
    SeedDisk,
)
from tashi.common.qemu_img import QEMU_IMG
from tashi.domain.capabilities import DiskKind
from tashi.domain.errors import DriverError
from tashi.domain.models import NetworkKind

K = TypeVar("K", bound=str)
P = TypeVar("P")

#: Network kind -> how to build its NIC provider.
NIC_PROVIDERS: dict[str, Callable[[], NicProvider]] = {
    NetworkKind.USER: UserNic,
}
#: Disk kind -> how to build its disk provider, given the qemu-img binary.
DISK_PROVIDERS: dict[DiskKind, Callable[[str], DiskProvider]] = {
    DiskKind.OVERLAY: OverlayDisk,
    DiskKind.IMAGE: ImageDisk,
    DiskKind.BLANK: BlankDisk,
    DiskKind.SCRATCH: ScratchDisk,
    DiskKind.SEED: SeedDisk,
}


@dataclass(frozen=True, slots=True)
class Composition:
    """The NIC provider of each network kind and the disk provider of each disk kind
    that one host has."""

    nics: Mapping[str, NicProvider]
    disks: Mapping[DiskKind, DiskProvider]

    @property
    def network_kinds(self) -> frozenset[str]:
        return frozenset(map(str, self.nics))

    @property
    def disk_kinds(self) -> frozenset[str]:
        return frozenset(map(str, self.disks))

    def nic_backend(self, instance_id: int, index: int, nic: NicPlan) -> NicBackend:
        """Pure: what NIC ``index`` attaches to; DriverError for a kind not served here."""
        return self._nic(instance_id, index, nic).backend(instance_id, index, nic)

    def disk_target(self, instance_id: int, disk: DiskPlan, slot: Path) -> DiskTarget:
        """Pure: where the hypervisor finds ``disk``; DriverError for a kind not served."""
        return self._disk(instance_id, disk).target(disk, slot)

    async def check(self, request: VmRequest) -> None:
        """Before anything is created: DriverError unless every disk can be provided."""
        for disk in request.disks:
            await self._disk(request.instance_id, disk).check(disk)

    async def provide(self, request: VmRequest, slot: Callable[[int], Path], *,
                      present: frozenset[Path] = frozenset()) -> None:
        """Provide every disk (disk N in ``slot(N)`` if it makes a file) and prepare every
        NIC of ``request``, in order; the first failure raises DriverError. A disk whose
        file is in ``present`` is left as it is (a resumed VM's, carried back)."""
        iid = request.instance_id
        for index, disk in enumerate(request.disks):
            provider = self._disk(iid, disk)
            target = provider.target(disk, slot(index))
            if target.path not in present:
                await provider.provide(disk, target)
        for index, nic in enumerate(request.nics):
            await self._nic(iid, index, nic).prepare(iid, index, nic)

    def _nic(self, instance_id: int, index: int, nic: NicPlan) -> NicProvider:
        return _provider(self.nics, nic.network_kind, "network",
                         f"instance {instance_id}, NIC {index}")

    def _disk(self, instance_id: int, disk: DiskPlan) -> DiskProvider:
        return _provider(self.disks, disk.kind, "disk",
                         f"instance {instance_id}, disk {disk.image_path or disk.kind}")


def _provider(registry: Mapping[K, P], kind: K, what: str, where: str) -> P:
    """The provider of ``kind``; DriverError naming ``where`` and what this host has."""
    provider = registry.get(kind)
    if provider is None:
        raise DriverError(f"{where}: {what} kind {str(kind)!r} is not supported on this "
                          f"host (supported: {', '.join(sorted(map(str, registry))) or 'none'})")
    return provider


def compose(qemu_img: str = QEMU_IMG) -> Composition:
    """A host's composition: today every kind registered (all of them run anywhere)."""
    return Composition({kind: make() for kind, make in NIC_PROVIDERS.items()},
                       {kind: make(qemu_img) for kind, make in DISK_PROVIDERS.items()})
