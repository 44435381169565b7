"""The agent protocol's records: what an agent is asked to converge, and what it saw.

The manager derives a :class:`DesiredInstance` for each instance bound to a host
(:meth:`tashi.manager.reports.ReportService.desired`); the host's agent converges its
hypervisor to them and answers one :class:`Observation` per instance. Both are plain
data: the wire schemas of :mod:`tashi.api.schemas.agents` carry them, converted at the
edges (the manager's routes, the agent's client boundary). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tashi.domain.derive import Directive, Observed
from tashi.domain.displays import DesiredDisplay
from tashi.domain.migration import DesiredMigration, MigrationReport
from tashi.domain.models import DiskBus, DiskCache, ImageFormat, NetworkKind, Seed
from tashi.domain.states import InstanceState

#: A long operation in flight on a VM, which the agent reports the progress of.
Busy = Literal["", "suspend", "resume", "migrate"]


@dataclass(frozen=True, slots=True)
class DesiredDisk:
    """One disk of a desired instance: the image it is made from (or none: a blank or
    scratch disk of ``size_gib``), and how the guest sees it."""

    image: str  # "" for blank and scratch disks
    format: ImageFormat  # the image's; for an empty disk, the format it is made in
    persistent: bool  # True: writes go to the image; False: to a private overlay
    size_gib: int = 0
    scratch: bool = False
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK


@dataclass(frozen=True, slots=True)
class DesiredNic:
    """One network interface of a desired instance."""

    network: str
    network_kind: NetworkKind
    mac: str
    model: str


@dataclass(frozen=True, slots=True)
class DesiredInstance:
    """What the agent of the bound host must make of one instance (see
    :func:`tashi.domain.derive.directive_for` and :func:`~tashi.domain.derive.may_start`)."""

    id: int
    name: str
    state: InstanceState
    directive: Directive
    may_start: bool
    cores: int
    memory_mib: int
    disks: tuple[DesiredDisk, ...]
    nics: tuple[DesiredNic, ...]
    shutdown_timeout_s: int
    generation: int
    seed: Seed | None = None  # a cloud-init seed to attach as a last, read-only disk
    reboots: int = 0  # the reboots asked so far: the agent carries out those it has not
    reboot_hard: bool = False  # how the last one is done (a reset, or the guest's own)
    resume: bool = False  # start it from its state saved in the suspend directory
    display: DesiredDisplay | None = None  # VNC and screenshot requests not answered
    migration: DesiredMigration | None = None  # a live migration this host takes part in
    ha_lease_s: float = 0.0  # an HA instance: its host's lease (see domain.ha); 0: not HA


@dataclass(frozen=True, slots=True)
class Observation:
    """What an agent saw of one instance on its host; an observation, never a command."""

    id: int
    observed: Observed
    detail: str = ""
    console: str | None = None  # the console tail, when it changed since the last report
    reboots: int = 0  # the reboots carried out on this VM (counted as the manager asked)
    # What could not be done to the VM as it is observed (a suspend that failed: it runs
    # on), in words; "" for nothing
    failure: str = ""
    busy: Busy = ""  # an operation in flight: then only its progress counts
    progress: int | None = None  # percent done of that operation
    migration: MigrationReport | None = None  # what it saw of a migration it takes part in
