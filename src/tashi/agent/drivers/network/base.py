"""The network family's contract: prepare the host side of one NIC, and say what the
hypervisor attaches it to.

A provider serves the NICs of one network kind. Its hypervisor-neutral answer, a
:class:`NicBackend`, is turned into the hypervisor's own terms by the hypervisor
driver (QEMU: a ``-netdev``). Every method may raise
:class:`~tashi.domain.errors.DriverError`, naming the instance and the NIC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tashi.agent.drivers.base import NicPlan


@dataclass(frozen=True, slots=True)
class NicBackend:
    """What the hypervisor attaches one NIC to, once its host side is ready."""

    kind: str  # "user": the hypervisor's own NAT, isolated from the host (USER below)


USER = "user"


class NicProvider(Protocol):
    """Prepares the host side of the NICs of one network kind."""

    @property
    def kind(self) -> str:
        """The network kind it serves (a :class:`~tashi.domain.models.NetworkKind`)."""
        ...

    def backend(self, instance_id: int, index: int, nic: NicPlan) -> NicBackend:
        """Pure: what the hypervisor attaches NIC ``index`` of the instance to; the same
        answer on every call. DriverError for a NIC it cannot serve."""
        ...

    async def prepare(self, instance_id: int, index: int, nic: NicPlan) -> None:
        """Make the NIC's host side ready, before the VM starts. Idempotent (a repeat
        finds it ready); on failure undoes what it made and raises DriverError."""
        ...
