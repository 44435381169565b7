"""Wire schemas of the REST API (pydantic). The only place, with the store, where
records become dicts. Shared by the server and the typed client."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tashi.domain.lifecycle import Directive, Observed
from tashi.domain.models import ImageFormat, NetworkKind
from tashi.domain.states import HostState, InstanceState, Role

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorOut(Wire):
    error: str = Field(description="machine-readable code, e.g. not_found")
    message: str = Field(description="one readable line saying what went wrong")


# --- instances -----------------------------------------------------------------------


class InstanceCreate(Wire):
    name: str = Field(max_length=63, examples=["web-1"])
    image: str = Field(max_length=127, examples=["tashi-guest"])
    cores: int = Field(default=1, description="virtual CPUs, 1-256")
    memory_mib: int = Field(default=128, description="memory in MiB")
    persistent: bool = Field(default=False, description="write to the image itself")
    networks: list[str] = Field(default=["default"], max_length=8)
    shutdown_timeout_s: int = Field(default=60, ge=1, le=3600)


class DiskOut(Wire):
    image: str
    persistent: bool


class NicOut(Wire):
    network: str
    mac: str
    model: str


class InstanceOut(Wire):
    id: int
    name: str
    owner: str
    state: InstanceState
    host: str | None
    cores: int
    memory_mib: int
    disks: list[DiskOut]
    nics: list[NicOut]
    shutdown_timeout_s: int
    generation: int
    message: str = Field(description="why it is in its state")
    observed: str
    observed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DestroyOut(Wire):
    id: int
    name: str
    deleted: bool = Field(description="true: gone already; false: being destroyed")
    instance: InstanceOut | None


class EventOut(Wire):
    at: datetime
    message: str
    instance_id: int | None
    host: str | None


class BindIn(Wire):
    host: str = Field(pattern=NAME_PATTERN)
    generation: int


# --- hosts, images, networks, users ---------------------------------------------------


class HostCreate(Wire):
    name: str = Field(max_length=63)


class HostOut(Wire):
    name: str
    state: HostState
    up: bool
    cores: int
    memory_mib: int
    used_cores: int
    used_memory_mib: int
    instances: int
    agent_version: str
    last_heartbeat: datetime | None


class HostCredentialOut(Wire):
    host: HostOut
    token: str = Field(description="the agent's credential; shown once")


class ImageOut(Wire):
    name: str
    owner: str
    format: ImageFormat
    size_bytes: int
    virtual_size_bytes: int
    created_at: datetime


class NetworkCreate(Wire):
    name: str = Field(max_length=63)
    kind: NetworkKind = NetworkKind.USER


class NetworkOut(Wire):
    name: str
    kind: NetworkKind
    created_at: datetime


class UserCreate(Wire):
    name: str = Field(max_length=63)
    role: Role = Role.USER


class UserOut(Wire):
    name: str
    role: Role
    created_at: datetime


class UserCredentialOut(Wire):
    user: UserOut
    token: str = Field(description="an API token for the new user; shown once")


# --- agents ------------------------------------------------------------------------------


class JoinIn(Wire):
    host: str = Field(max_length=63)
    join_token: str = Field(max_length=256)


class HeartbeatIn(Wire):
    cores: int = Field(ge=0, le=100_000)
    memory_mib: int = Field(ge=0)
    agent_version: str = Field(max_length=64)
    hypervisor: str = Field(max_length=64)


class DesiredDisk(Wire):
    image: str
    format: ImageFormat
    persistent: bool


class DesiredNic(Wire):
    network: str
    network_kind: NetworkKind
    mac: str
    model: str


class DesiredInstance(Wire):
    id: int
    name: str
    state: InstanceState
    directive: Directive
    may_start: bool
    cores: int
    memory_mib: int
    disks: list[DesiredDisk]
    nics: list[DesiredNic]
    shutdown_timeout_s: int
    generation: int


class DesiredOut(Wire):
    revision: str
    instances: list[DesiredInstance]


class Observation(Wire):
    id: int
    observed: Observed
    detail: str = Field(default="", max_length=2000)
    console: str | None = Field(default=None, max_length=65536,
                                description="the console tail, when it changed")


class ReportIn(Wire):
    instances: list[Observation] = Field(max_length=10_000)


# --- scheduler -----------------------------------------------------------------------------


class PendingOut(Wire):
    id: int
    name: str
    owner: str
    cores: int
    memory_mib: int
    generation: int


class SnapshotOut(Wire):
    revision: str
    hosts: list[HostOut]
    pending: list[PendingOut]


class WhoAmIOut(Wire):
    kind: str
    name: str
    role: Role | None
