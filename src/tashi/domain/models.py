"""The core records of Tashi, as frozen dataclasses (dicts exist only at the wire
and in the store)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from tashi.domain.capabilities import HostCapabilities
from tashi.domain.ha import HaRestart
from tashi.domain.migration import (
    IncomingEndpoint,
    MigrationProgress,
    MigrationResult,
    MigrationSpec,
)
from tashi.domain.resources import Resources
from tashi.domain.states import HostState, InstanceState, Power, Role


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime
    source: str = "local"  # "local" (Tashi's own table) or the user source it comes from

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (with a role) or a host's agent."""

    user: User | None = None
    host: str | None = None
    # when the token it called with expires (None: never); not part of who it is
    token_expires_at: datetime | None = field(default=None, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin

    @property
    def label(self) -> str:
        return f"user {self.user.name}" if self.user else f"agent of host {self.host}"


@dataclass(frozen=True, slots=True)
class Host:
    id: int
    name: str
    state: HostState
    cores: int
    memory_mib: int
    last_heartbeat: datetime | None
    agent_version: str
    registered_at: datetime
    hypervisor: str = ""  # as its agent reports it, e.g. "fake (simulation)"
    reserved_for: tuple[str, ...] = ()  # the users whose instances it takes (empty: anyone)
    silent: bool = False  # the liveness sweep found it silent; cleared by its next heartbeat
    disk_gib: int = 0  # room for instance disks, as its agent reports it
    capabilities: HostCapabilities | None = None  # as its agent reports them (None: never)

    @property
    def capacity(self) -> Resources:
        return Resources(self.cores, self.memory_mib, self.disk_gib)

    def is_up(self, now: datetime, timeout: timedelta) -> bool:
        return self.last_heartbeat is not None and now - self.last_heartbeat <= timeout


class ImageFormat(StrEnum):
    QCOW2 = "qcow2"
    RAW = "raw"


class Visibility(StrEnum):
    PRIVATE = "private"  # its owner (and admins, by its full name) only
    PUBLIC = "public"  # every user; only admins make images public


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    name: str
    owner: str
    format: ImageFormat
    size_bytes: int  # bytes on disk
    virtual_size_bytes: int  # size the guest sees
    created_at: datetime
    visibility: Visibility = Visibility.PRIVATE
    min_memory_mib: int = 0  # the least memory its guest boots with (0: not known)


class NetworkKind(StrEnum):
    USER = "user"  # QEMU user-mode NAT: no host setup, outbound only


@dataclass(frozen=True, slots=True)
class Network:
    id: int
    name: str
    kind: NetworkKind
    created_at: datetime


class DiskBus(StrEnum):
    """How the guest sees a disk."""

    VIRTIO = "virtio"  # virtio-blk (the default: the fastest)
    SCSI = "scsi"  # a disk on a virtio-scsi controller
    IDE = "ide"  # for guests without virtio drivers


class DiskCache(StrEnum):
    """The host's cache mode for a disk (QEMU's ``cache=``)."""

    WRITEBACK = "writeback"  # QEMU's default
    NONE = "none"  # O_DIRECT: no host page cache
    WRITETHROUGH = "writethrough"
    DIRECTSYNC = "directsync"
    UNSAFE = "unsafe"  # flushes ignored: for throwaway disks only


@dataclass(frozen=True, slots=True)
class DiskSpec:
    """One disk: from an image (a copy-on-write overlay over it, or the image itself when
    ``persistent``), or empty: ``blank`` (a qcow2 file of ``size_gib``) or ``scratch`` (a
    sparse file of ``size_gib`` in the host's scratch space). Blank and scratch disks go
    with the instance; their size counts against the host's disk claim."""

    image: str = ""  # "" for blank and scratch disks
    persistent: bool = False  # True: writes go to the image itself
    size_gib: int = 0  # blank and scratch disks: their size
    scratch: bool = False
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK

    @property
    def empty(self) -> bool:
        """Made empty on the host (blank or scratch), not from an image."""
        return not self.image


@dataclass(frozen=True, slots=True)
class Seed:
    """A cloud-init NoCloud seed for the guest: attached as a read-only ISO 9660 disk
    labelled ``cidata`` (meta-data: instance-id, local-hostname, public-keys; user-data)."""

    hostname: str  # local-hostname
    user_data: str = ""  # a script (#!...) or #cloud-config; "" for none
    ssh_keys: tuple[str, ...] = ()  # public keys, for the guest's default user


@dataclass(frozen=True, slots=True)
class NicSpec:
    network: str
    mac: str
    model: str = "virtio"


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """What is wanted. Changed only by user, admin, scheduler and manager actions (never
    by an agent's report); every change bumps the instance's generation."""

    cores: int
    memory_mib: int
    disks: tuple[DiskSpec, ...]
    nics: tuple[NicSpec, ...]
    host: str | None = None  # the host it is bound to, once placed
    shutdown_timeout_s: int = 60
    # What the placement asks (the defaults ask nothing: old records read the same).
    target_host: str | None = None  # the host asked for
    allow_elsewhere: bool = False  # another host when the target does not fit
    group: str | None = None  # the owner's instance group it belongs to
    anti_affinity: bool = False  # no two members of its group on one host
    power: Power = Power.RUNNING  # the power state wanted
    seed: Seed | None = None  # a cloud-init seed to attach, when one was asked for
    reboots: int = 0  # reboots asked of its VM since it was created (each bumps it)
    reboot_hard: bool = False  # the last one asked: a reset (else the guest's own reboot)
    migration: MigrationSpec | None = None  # a live migration wanted (see domain.migration)
    migrations: int = 0  # live migrations asked since it was created (each bumps it)
    relocating: bool = False  # suspended to leave its host: resumed elsewhere once saved
    ha: bool = False  # restarted elsewhere from its image when its host fails (domain.ha)
    restarted: HaRestart | None = None  # its last HA restart

    @property
    def disk_gib(self) -> int:
        """The host disk its blank and scratch disks take (overlays are not counted:
        they start empty and grow with the guest's writes)."""
        return sum(d.size_gib for d in self.disks if d.empty)

    @property
    def resources(self) -> Resources:
        """What it claims on its host."""
        return Resources(self.cores, self.memory_mib, self.disk_gib)


@dataclass(frozen=True, slots=True)
class StartFailure:
    """A start of the instance that failed on ``host``."""

    host: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AvoidedHost:
    """A host the scheduler does not place the instance on before ``until``."""

    host: str
    until: datetime


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """What was last observed by the agent of the bound host (reset when the instance
    is bound or unbound), and how its starts went. Written by reports and the manager's
    controllers; never bumps the generation."""

    observed: str = ""  # the agent's last observation (running, stopped, absent, failed)
    message: str = ""  # why the instance is in its state, in words
    observed_at: datetime | None = None
    observed_generation: int = 0
    failures: tuple[StartFailure, ...] = ()  # failed starts, oldest first
    avoid: tuple[AvoidedHost, ...] = ()  # hosts placement avoids for a while
    retry_at: datetime | None = None  # when a Held instance goes back to Pending (None: never)
    ran: bool = False  # seen running on its host since it was bound there
    ended: bool = False  # seen ended (stopped, or gone after running) since it was bound
    held: bool = False  # off any host after failed starts, until retried (see manager.retry)
    reboots_done: int = 0  # the reboots its host's agent has carried out (see spec.reboots)
    saved: bool = False  # its VM's state is in the suspend directory (until a resume runs)
    progress: int | None = None  # percent done of a suspend or resume in flight
    last_failure: str = ""  # why the last suspend, resume or migration failed (until the next)
    incoming: IncomingEndpoint | None = None  # the migration target's VM waits there
    migrating: MigrationProgress | None = None  # the source's progress of the migration
    migrated: MigrationResult | None = None  # the source's VM sent all: waiting on the target
    last_migration: MigrationResult | None = None  # the last one that completed
    recovered_at: datetime | None = None  # seen running again after its last HA restart

    @property
    def attempts(self) -> int:
        """How many starts failed."""
        return len(self.failures)

    def avoided(self, now: datetime) -> frozenset[str]:
        """The hosts to avoid at ``now``."""
        return frozenset(a.host for a in self.avoid if a.until > now)


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance: its ``spec`` (intent) and ``status`` (observation). ``state`` is
    :func:`tashi.domain.derive.shown_state` of them, cached by the store for listing."""

    id: int
    name: str
    owner: str
    state: InstanceState
    spec: InstanceSpec
    status: InstanceStatus
    generation: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewInstance:
    """A validated request to create an instance."""

    name: str
    owner: str
    spec: InstanceSpec
