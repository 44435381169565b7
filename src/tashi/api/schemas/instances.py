"""Instances: what users ask for and what they are shown."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    Field,
)

from tashi.api.schemas.base import (
    MAX_COUNT,
    MAX_ID,
    Bool,
    GroupName,
    HostName,
    ImageRef,
    InstanceName,
    Int,
    NetworkName,
    Wire,
)
from tashi.api.schemas.migration import MigrationOut, ResultWire
from tashi.api.schemas.usage import UsageOut
from tashi.domain.events import EventKind
from tashi.domain.models import DiskBus, DiskCache
from tashi.domain.resources import (
    MAX_CORES,
    MAX_DISK_GIB,
    MAX_DISKS,
    MAX_MEMORY_MIB,
    MIN_MEMORY_MIB,
)
from tashi.domain.seeds import MAX_SSH_KEYS, MAX_USER_DATA_BYTES
from tashi.domain.states import InstanceState, Power


class DiskCreate(Wire):
    """A disk beyond the boot disk: exactly one of image, size_gib or scratch_gib."""

    image: ImageRef | None = Field(default=None, description="a disk from this image")
    persistent: Bool = Field(default=False, description="with image: write to the image")
    size_gib: Int | None = Field(default=None, ge=1, le=MAX_DISK_GIB,
                                 description="a blank qcow2 disk of this size")
    scratch_gib: Int | None = Field(default=None, ge=1, le=MAX_DISK_GIB,
                                    description="a sparse scratch file of this size")
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK


class InstanceCreate(Wire):
    name: InstanceName = Field(examples=["web-1"])
    image: ImageRef = Field(examples=["tashi-guest"], description=(
        "NAME: your image, else the public one; or OWNER/NAME"))
    cores: Int = Field(default=1, ge=1, le=MAX_CORES, description="virtual CPUs")
    memory_mib: Int = Field(default=128, ge=MIN_MEMORY_MIB, le=MAX_MEMORY_MIB,
                            description="memory in MiB")
    persistent: Bool = Field(default=False, description="write to the image itself")
    networks: list[NetworkName] = Field(default=["default"], min_length=1, max_length=8)
    nic_model: str = Field(default="virtio", pattern=r"^[a-z0-9][a-z0-9_.-]{0,31}$",
                           description="the model of its NICs (virtio, e1000): one some "
                           "host offers (see tashi host show), else 400")
    shutdown_timeout_s: Int = Field(default=60, ge=1, le=3600)
    disk_gib: Int = Field(default=0, ge=0, le=MAX_DISK_GIB,
                          description="a scratch disk of this size, GiB (as a disk with "
                          "scratch_gib)")
    disks: list[DiskCreate] = Field(default_factory=list, max_length=MAX_DISKS - 1,
                                    description="disks beyond the boot disk, in order")
    hostname: str | None = Field(default=None, max_length=253, description="a cloud-init "
                                 "seed's local-hostname (default: the instance's name)")
    user_data: str = Field(default="", max_length=MAX_USER_DATA_BYTES, description=(
        "cloud-init user-data (a #! script or #cloud-config); with hostname or ssh_keys, "
        "a NoCloud seed disk is attached"))
    ssh_keys: list[str] = Field(default_factory=list, max_length=MAX_SSH_KEYS,
                                description="public SSH keys the seed installs")
    host: HostName | None = Field(default=None, description="the host to run on")
    allow_elsewhere: Bool = Field(default=False,
                                  description="another host when the asked one does not fit")
    group: GroupName | None = Field(default=None, description="an instance group of yours")
    anti_affinity: Bool = Field(default=False, description="no two members of the group on "
                                "one host (without a group: the name is the group)")
    ha: Bool = Field(default=False, description="restarted on another host, from its "
                     "image, when its host fails (its overlay and scratch disks lost)")
    count: Int = Field(default=1, ge=1, le=MAX_COUNT, description="how many: more than one "
                       "are named NAME-1 ... NAME-N, created all or none (POST /instances/bulk)")


class SeedOut(Wire):
    """The cloud-init seed attached (its user-data is not shown: it may hold secrets)."""

    hostname: str
    ssh_keys: list[str]
    user_data_bytes: int
    user_data_sha256: str = Field(description="to check which user-data it has")


class DiskOut(Wire):
    image: str = Field(description='the image it is made from; "" for blank and scratch')
    persistent: bool
    size_gib: int = Field(default=0, description="blank and scratch disks: their size")
    scratch: bool = False
    bus: DiskBus = DiskBus.VIRTIO
    cache: DiskCache = DiskCache.WRITEBACK


class NicOut(Wire):
    network: str
    mac: str
    model: str


class StartFailureOut(Wire):
    host: str
    reason: str
    at: datetime


class AvoidedHostOut(Wire):
    host: str
    until: datetime


class HaRestartOut(Wire):
    """The last HA restart of an instance."""

    number: int = Field(description="its HA restarts so far")
    host: str = Field(description="the host it left (its overlay there was lost)")
    heard_at: datetime = Field(description="when that host was last heard")
    at: datetime = Field(description="when the manager restarted it elsewhere")


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
    disk_gib: int = 0
    seed: SeedOut | None = None
    reboots: int = Field(default=0, description="reboots asked since it was created")
    reboots_done: int = Field(default=0, description="of those, carried out by its host")
    saved: bool = Field(default=False, description="its state is saved in the suspend "
                        "directory (Suspended, or Resuming until it runs)")
    progress: int | None = Field(default=None, description="percent done of a suspend or "
                                 "resume under way")
    last_failure: str = Field(default="", description="why the last suspend or resume "
                              "failed (nothing was lost: it runs on, or stays suspended)")
    target_host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = None
    anti_affinity: bool = False
    power: Power = Field(default=Power.RUNNING, description="the power state wanted (the "
                         "intent; state is derived from it and what the host observed)")
    generation: int
    message: str = Field(description="why it is in its state")
    observed: str
    observed_at: datetime | None
    attempts: int = Field(default=0, description="how many starts failed")
    failures: list[StartFailureOut] = Field(default_factory=list)
    avoid: list[AvoidedHostOut] = Field(default_factory=list, description="hosts placement avoids")
    retry_at: datetime | None = Field(default=None, description="when Held goes back to "
                                      "Pending")
    created_at: datetime
    updated_at: datetime
    usage: UsageOut | None = Field(default=None, description="the latest usage figures "
                                   "its host measured (one instance's answer only)")
    migration: MigrationOut | None = Field(default=None, description="a live migration "
                                           "wanted or under way")
    last_migration: ResultWire | None = Field(default=None, description="the last live "
                                              "migration that completed, as QEMU measured it")
    ha: bool = Field(default=False, description="restarted elsewhere when its host fails")
    restarted: HaRestartOut | None = Field(default=None, description="its last HA restart")
    recovered_at: datetime | None = Field(default=None, description="when it ran again "
                                          "after its last HA restart")


class DestroyOut(Wire):
    id: int
    name: str
    deleted: bool = Field(description="true: gone already; false: being destroyed")
    instance: InstanceOut | None


class EventOut(Wire):
    id: int = 0
    at: datetime
    kind: EventKind = EventKind.NOTE
    message: str
    instance_id: int | None
    host: str | None
    user: str | None = Field(default=None, description="the user it concerns")
    actor: str = Field(default="", description="who did it")
    old_state: InstanceState | None = None
    new_state: InstanceState | None = None
    cores: int | None = Field(default=None, description="what the instance claims")
    memory_mib: int | None = None
    disk_gib: int | None = None


class BindIn(Wire):
    host: HostName
    generation: Int = Field(ge=0, le=MAX_ID)


# --- hosts, images, networks, users ---------------------------------------------------
