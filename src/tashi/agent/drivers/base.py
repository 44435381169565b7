"""The hypervisor driver contract: a small base protocol and optional ones.

A driver runs VMs on one host. It never leaks its handles (PIDs, QMP sockets,
domain ids) past this boundary: everything is addressed by Tashi's instance id.

:class:`HypervisorDriver` is what every driver does (host facts, list, start, stop,
destroy). Each optional operation is a small protocol of its own that a driver
implements or not: :class:`Console`, :class:`Pausable`, :class:`Suspendable`,
:class:`LiveMigratable`, :class:`Vnc`, :class:`Metered` (usage figures: not
an ability, since nothing asks for it). What a driver can do is data
(:func:`capabilities_of`): derived from the protocols it implements and the facts it
measured, sent in the heartbeat, never found out by calling a method and catching an
error. A driver implements an optional protocol wholly or not at all.

Every method may raise :class:`tashi.domain.errors.DriverError` (with the cause
chained); nothing else is expected to escape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from tashi.domain.capabilities import Ability, DiskKind, HostCapabilities, HypervisorFacts
from tashi.domain.derive import Observed
from tashi.domain.errors import DriverError
from tashi.domain.migration import IncomingEndpoint, MigrationProgress, MigrationTunables, Sent
from tashi.domain.models import DiskBus, DiskCache, ImageFormat
from tashi.domain.usage import VmUsage


@dataclass(frozen=True, slots=True)
class HostInfo:
    cores: int
    memory_mib: int
    hypervisor: str  # e.g. "qemu-tcg", "qemu-kvm", "fake (simulation)"
    disk_gib: int = 0  # room for instances' overlays and scratch disks


@dataclass(frozen=True, slots=True)
class SeedFiles:
    """The two files of a NoCloud seed (see :mod:`tashi.domain.seeds`)."""

    meta_data: str
    user_data: str


@dataclass(frozen=True, slots=True)
class DiskPlan:
    image_path: Path | None  # resolved by the agent inside its image directory; None: empty
    format: ImageFormat  # the image's, or the format an empty disk is made in
    persistent: bool  # True: write to the image; False: a private copy-on-write overlay
    size_gib: int = 0  # an empty disk's size
    scratch: bool = False  # an empty disk in the host's scratch space (else a blank qcow2)
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK
    seed: SeedFiles | None = None  # a cloud-init seed disk (read-only ISO 9660) of these

    @property
    def read_only(self) -> bool:
        return self.seed is not None

    @property
    def kind(self) -> DiskKind:
        """How the host provides it (see :mod:`tashi.agent.drivers.storage`)."""
        if self.seed is not None:
            return DiskKind.SEED
        if self.image_path is None:
            return DiskKind.SCRATCH if self.scratch else DiskKind.BLANK
        return DiskKind.IMAGE if self.persistent else DiskKind.OVERLAY

    def image(self) -> Path:
        """The image it is made from; DriverError for an empty disk (a provider bug)."""
        if self.image_path is None:
            raise DriverError(f"a {self.kind} disk has no image")
        return self.image_path


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
    reboots: int = 0  # the reboots asked before it started: a new VM has done them all


@dataclass(frozen=True, slots=True)
class VmStatus:
    instance_id: int
    observed: Observed  # RUNNING, PAUSED or STOPPED (a driver never lists an absent VM)
    detail: str = ""  # e.g. "exited with code 0", "QMP status: running"
    reboots: int = 0  # the reboots carried out (see Rebootable)



@dataclass(frozen=True, slots=True)
class VncEndpoint:
    """Where the VM's VNC server listens (an address of its host, and a port)."""

    host: str
    port: int


class HypervisorDriver(Protocol):
    """What the agent needs of every hypervisor: the small base."""

    @property
    def name(self) -> str: ...

    async def host_info(self) -> HostInfo:
        """Cores and memory this host offers to VMs, measured from the machine."""
        ...

    async def facts(self) -> HypervisorFacts:
        """What the hypervisor is and runs (version, CPU model, machine types, NIC
        models, network and disk kinds). Measured once, on the first call (cheap:
        no VM is touched); every later call gives the same answer. A fact it cannot
        measure is left empty (logged), never an error."""
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


@runtime_checkable
class Console(Protocol):
    """The VM's serial console, as text."""

    async def console(self, instance_id: int, max_bytes: int) -> str:
        """The last ``max_bytes`` of the VM's serial console: '' when it has none (never
        started here, or gone). Reading changes nothing the guest sees; repeat calls
        give what was written since, plus the tail before."""
        ...


@runtime_checkable
class Pausable(Protocol):
    """Freeze a running VM in memory and thaw it (its process stays)."""

    async def pause(self, instance_id: int) -> None:
        """Stop the VM's CPUs; it is then listed as PAUSED. Succeeds if already paused;
        DriverError if it is not running here (stopped or absent)."""
        ...

    async def unpause(self, instance_id: int) -> None:
        """Run the paused VM's CPUs again. Succeeds if already running; DriverError if it
        is not here, or stopped."""
        ...


@runtime_checkable
class Rebootable(Protocol):
    """Restart a running VM's guest, keeping its process, disks and memory size."""

    async def reboot(self, instance_id: int, number: int, hard: bool, timeout_s: float) -> None:
        """Reboot the VM; afterwards it is listed with ``reboots == number``. Soft: the
        guest is asked (ctrl-alt-delete), and reset after ``timeout_s`` if it did not
        reboot by then; hard: reset at once. DriverError if it is not running here."""
        ...


@runtime_checkable
class Suspendable(Protocol):
    """Save a VM's whole state (memory, devices, its own disks) to a directory and end
    its process; start it again from there, on this host or another that sees it."""

    async def suspend(self, instance_id: int, path: Path) -> None:
        """Save the running or paused VM's state in the directory ``path``, then end its
        process and remove its files here: it is no longer listed, and
        :meth:`saved` is true of ``path``. On failure the VM runs on as before (paused
        if it was) and nothing partial is left in ``path``. Repeatable: after an
        interruption it finishes what was begun; a repeat once done succeeds."""
        ...

    async def resume(self, request: VmRequest, path: Path) -> None:
        """Start ``request``'s VM from the state saved in ``path`` (by :meth:`suspend`
        on this host or a compatible one), and once it runs remove ``path``. Idempotent
        like ``start``; on failure cleans up like ``start`` and leaves ``path`` whole."""
        ...

    def saved(self, path: Path) -> bool:
        """Whether ``path`` holds a whole saved state. Cheap (a file's existence)."""
        ...

    def progress(self, instance_id: int) -> int | None:
        """Percent done of a suspend or resume of the instance in flight (None: none)."""
        ...


@runtime_checkable
class LiveMigratable(Protocol):
    """Move a running VM to another host while it runs, its disks along (the protocol
    is in :mod:`tashi.domain.migration`). The agents drive it from what the manager
    wants: the target's prepares, the source's sends; neither calls the other."""

    async def prepare_incoming(self, request: VmRequest, number: int,
                               tunables: MigrationTunables) -> IncomingEndpoint:
        """On the target: start ``request``'s VM waiting for migration ``number`` and say
        where to send it. Idempotent (a repeat gives the same endpoint); on failure
        cleans up like ``start``. The VM runs by itself once all of it came."""
        ...

    def incoming_endpoint(self, instance_id: int) -> IncomingEndpoint | None:
        """On the target: the endpoint of the VM waiting here (None: none waits, or it
        runs and its migration's leftovers are gone)."""
        ...

    async def migrate(self, instance_id: int, endpoint: IncomingEndpoint,
                      tunables: MigrationTunables) -> Sent:
        """On the source: send the running VM to ``endpoint`` and return once it was all
        sent (the VM here then stays paused). On failure, cancel or timeout the VM
        runs on here, and DriverError says why. Takes up a migration begun earlier."""
        ...

    def cancel_migration(self, instance_id: int) -> None:
        """On the source: make a ``migrate`` under way give up (the VM runs on here)."""
        ...

    def migration_progress(self, instance_id: int) -> MigrationProgress | None:
        """On the source: how far the ``migrate`` under way got."""
        ...

    async def finish_incoming(self, instance_id: int) -> None:
        """On the target, once its VM runs: close what the migration needed."""
        ...


@runtime_checkable
class Vnc(Protocol):
    """The VM's display: a VNC server on it, password protected, and screenshots of it
    (see :mod:`tashi.domain.displays`). Each method raises DriverError if the VM is not
    running here."""

    async def open_vnc(self, instance_id: int, password: str) -> VncEndpoint:
        """Make the VM's VNC server listen on the host's VNC address, opened by
        ``password`` only (at most 8 characters); a repeat keeps where it listens and
        sets the new password (the old one stops working). The password is never logged."""
        ...

    async def close_vnc(self, instance_id: int) -> None:
        """Stop the VM's VNC server listening. Succeeds if it was not."""
        ...

    async def screenshot(self, instance_id: int) -> bytes:
        """The VM's display now, as a PNG (DriverError if it is larger than
        :data:`tashi.domain.displays.MAX_SCREENSHOT_BYTES`)."""
        ...


@runtime_checkable
class Metered(Protocol):
    """What a VM uses of its host (:class:`~tashi.domain.usage.VmUsage`), measured on
    demand; its counters are cumulative since the VM's process started."""

    async def usage(self, instance_id: int) -> VmUsage | None:
        """The VM's figures now; None when it has no process here (stopped, absent, being
        started) or cannot be measured this time (e.g. its monitor is busy). Cheap (no
        guest is touched, nothing changes) and bounded in time: a hung hypervisor makes
        it return None or raise DriverError after a short timeout, never block."""
        ...


#: Each optional protocol and the ability it gives.
ABILITIES: tuple[tuple[type, Ability], ...] = (
    (Console, Ability.CONSOLE), (Pausable, Ability.PAUSE), (Rebootable, Ability.REBOOT),
    (Suspendable, Ability.SUSPEND),
    (LiveMigratable, Ability.LIVE_MIGRATION), (Vnc, Ability.VNC),
)


def abilities_of(driver: HypervisorDriver) -> frozenset[Ability]:
    """The optional protocols ``driver`` implements."""
    return frozenset(ability for protocol, ability in ABILITIES if isinstance(driver, protocol))


async def capabilities_of(driver: HypervisorDriver) -> HostCapabilities:
    """What ``driver`` can do, as data: its facts and the abilities it implements."""
    return HostCapabilities(await driver.facts(), abilities_of(driver))
