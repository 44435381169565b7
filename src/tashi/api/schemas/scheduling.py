"""The scheduler's snapshot and bindings."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from tashi.api.schemas.base import (
    MAX_ID,
    HostName,
    Int,
    Wire,
)
from tashi.api.schemas.hosts import (
    HostOut,
)


class PendingOut(Wire):
    id: int
    name: str
    owner: str
    cores: int
    memory_mib: int
    generation: int
    disk_gib: int = 0
    target_host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = Field(default=None, description="owner/group")
    anti_affinity: bool = False
    persistent_images: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list)
    nic_models: list[str] = Field(default_factory=list, description="its NICs' models")
    network_kinds: list[str] = Field(default_factory=list, description="its networks' kinds")
    abilities: list[str] = Field(default_factory=list,
                                 description="optional driver operations its host needs "
                                             "(suspend: to resume a saved VM)")
    avoid_hosts: list[str] = Field(default_factory=list,
                                   description="where its start failed lately")
    message: str = Field(default="", description="its status message (the last reason)")


class SnapshotOut(Wire):
    revision: str
    hosts: list[HostOut]
    pending: list[PendingOut]
    persistent_images_in_use: list[str] = Field(default_factory=list)


MAX_BINDINGS = 5000  # per request


class BindingIn(Wire):
    id: Int = Field(ge=1, le=MAX_ID)
    host: HostName
    generation: Int = Field(ge=0, le=MAX_ID)
    reason: str = Field(default="", max_length=1000, description="why this host")


class UnplacedIn(Wire):
    id: Int = Field(ge=1, le=MAX_ID)
    reason: str = Field(max_length=1000, description="why no host takes it now")


class BindingOut(Wire):
    id: int
    host: str
    result: Literal["bound", "conflict", "not_found"]
    message: str = Field(default="", description="why not, when not bound")
