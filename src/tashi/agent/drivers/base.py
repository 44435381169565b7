"""The hypervisor driver contract.

A driver runs VMs on one host. It never leaks its handles (PIDs, QMP sockets,
domain ids) past this boundary: everything is addressed by Tashi's instance id.
Optional abilities are announced as data in :class:`Capabilities`, not found out
by calling a method and catching an error.

Every method may raise :class:`tashi.domain.errors.DriverError` (with the cause
chained); nothing else is expected to escape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tashi.domain.derive import Observed
from tashi.domain.models import ImageFormat


@dataclass(frozen=True, slots=True)
class Capabilities:
    console: bool = False
    pause: bool = False
    suspend: bool = False
    live_migration: bool = False
    vnc: bool = False


@dataclass(frozen=True, slots=True)
class HostInfo:
    cores: int
    memory_mib: int
    hypervisor: str  # e.g. "qemu-tcg", "qemu-kvm", "fake (simulation)"
    disk_gib: int = 0  # room for instances' overlays and scratch disks


@dataclass(frozen=True, slots=True)
class DiskPlan:
    image_path: Path  # resolved by the agent inside its image directory
    format: ImageFormat
    persistent: bool  # True: write to the image; False: a private copy-on-write overlay


@dataclass(frozen=True, slots=True)
class NicPlan:
    mac: str
    model: str  # "virtio" by default
    network_kind: str  # "user" for now; bridges come later


@dataclass(frozen=True, slots=True)
class VmRequest:
    instance_id: int
    name: str
    cores: int
    memory_mib: int
    disks: tuple[DiskPlan, ...]
    nics: tuple[NicPlan, ...]


@dataclass(frozen=True, slots=True)
class VmStatus:
    instance_id: int
    observed: Observed  # RUNNING, PAUSED or STOPPED (a driver never lists an absent VM)
    detail: str = ""  # e.g. "exited with code 0", "QMP status: running"


class HypervisorDriver(Protocol):
    """What the agent needs of a hypervisor."""

    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def host_info(self) -> HostInfo:
        """Cores and memory this host offers to VMs, measured from the machine."""
        ...

    async def list_instances(self) -> list[VmStatus]:
        """Every instance this driver has on the host, running or stopped with files left.

        After an agent restart this is how VMs started earlier are re-adopted: the
        driver finds them from its own runtime records, never by starting anything."""
        ...

    async def start(self, request: VmRequest) -> None:
        """Start the VM. Idempotent: a VM already running for this instance is left alone.
        On failure, cleans up what it created (process, overlay, runtime files) and raises
        DriverError with the reason (and the hypervisor's own output, when it has some)."""
        ...

    async def stop(self, instance_id: int, timeout_s: float) -> None:
        """Graceful power-off (the ACPI power button); kill after ``timeout_s``. Keeps the
        instance's files (console log, overlay) so it is still listed as STOPPED.
        Succeeds if the VM is already stopped or absent."""
        ...

    async def destroy(self, instance_id: int) -> None:
        """Kill the VM at once and remove all its files. Succeeds if already gone."""
        ...

    async def console(self, instance_id: int, max_bytes: int) -> str:
        """The last ``max_bytes`` of the VM's serial console ('' if none)."""
        ...
