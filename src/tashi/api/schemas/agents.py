"""What agents send and are sent: join, heartbeat, desired state, reports."""

from __future__ import annotations

from pydantic import (
    Field,
)

from tashi.api.schemas.base import (
    MAX_ID,
    HostName,
    Int,
    Wire,
)
from tashi.api.schemas.displays import DesiredDisplayOut
from tashi.api.schemas.hosts import CapabilitiesWire
from tashi.api.schemas.migration import DesiredMigrationOut, MigrationReportIn
from tashi.domain.derive import Directive, Observed
from tashi.domain.desired import Busy
from tashi.domain.models import DiskBus, DiskCache, ImageFormat, NetworkKind
from tashi.domain.states import InstanceState


class JoinIn(Wire):
    host: HostName
    join_token: str = Field(max_length=256)


class HeartbeatIn(Wire):
    cores: Int = Field(ge=0, le=100_000)
    memory_mib: Int = Field(ge=0)
    disk_gib: Int = Field(default=0, ge=0, description="room for instance disks")
    agent_version: str = Field(max_length=64)
    hypervisor: str = Field(max_length=64)
    capabilities: CapabilitiesWire | None = Field(
        default=None, description="what the host's drivers can do (older agents: absent)")


class DesiredDiskOut(Wire):
    image: str = Field(description='"" for blank and scratch disks')
    format: ImageFormat
    persistent: bool
    size_gib: int = 0
    scratch: bool = False
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK


class DesiredNicOut(Wire):
    network: str
    network_kind: NetworkKind
    mac: str
    model: str


class DesiredSeedOut(Wire):
    hostname: str
    user_data: str
    ssh_keys: list[str]


class DesiredInstanceOut(Wire):
    id: int
    name: str
    state: InstanceState
    directive: Directive
    may_start: bool
    cores: int
    memory_mib: int
    disks: list[DesiredDiskOut]
    nics: list[DesiredNicOut]
    shutdown_timeout_s: int
    generation: int
    seed: DesiredSeedOut | None = None
    reboots: int = 0
    reboot_hard: bool = False
    resume: bool = Field(default=False, description="start it from its saved state")
    display: DesiredDisplayOut | None = None
    migration: DesiredMigrationOut | None = Field(
        default=None, description="a live migration this host is the source or target of")
    ha_lease_s: float = Field(default=0.0, ge=0, description="an HA instance: seconds "
                              "after its last answered heartbeat at which the host's lease "
                              "runs out (the agent pauses it before); 0: not HA")


class DesiredOut(Wire):
    revision: str
    epoch: int = Field(default=0, ge=0, description="the store's epoch when it was read: "
                       "an agent refuses an answer below one it acted on")
    instances: list[DesiredInstanceOut]


class ObservationIn(Wire):
    id: Int = Field(ge=1, le=MAX_ID)
    observed: Observed
    detail: str = Field(default="", max_length=2000)
    console: str | None = Field(default=None, max_length=65536,
                                description="the console tail, when it changed")
    reboots: Int = Field(default=0, ge=0, le=MAX_ID, description="reboots carried out")
    failure: str = Field(default="", max_length=2000,
                         description="what could not be done to it (a suspend), in words")
    busy: Busy = Field(
        default="", description="an operation in flight: only its progress counts")
    progress: Int | None = Field(default=None, ge=0, le=100, description="percent done")
    migration: MigrationReportIn | None = Field(
        default=None, description="what it saw of a migration it takes part in")


class ConsoleIn(Wire):
    id: Int = Field(ge=1, le=MAX_ID)
    text: str = Field(max_length=65536, description="the console's tail, as it is now")


class ConsolesIn(Wire):
    consoles: list[ConsoleIn] = Field(max_length=10_000)


class ReportIn(Wire):
    instances: list[ObservationIn] = Field(max_length=10_000)


# --- scheduler -----------------------------------------------------------------------------
