"""Hosts: registration, state, slots and layout."""

from __future__ import annotations

from datetime import datetime

from pydantic import (
    Field,
)

from tashi.api.schemas.base import (
    HostName,
    UserName,
    Wire,
)
from tashi.domain.states import HostState, InstanceState


class HostCreate(Wire):
    name: HostName


class HostOut(Wire):
    name: str
    state: HostState
    up: bool
    cores: int
    memory_mib: int
    used_cores: int
    used_memory_mib: int
    disk_gib: int = Field(default=0, description="room for instance disks")
    used_disk_gib: int = 0
    instances: int
    agent_version: str
    last_heartbeat: datetime | None
    hypervisor: str = Field(default="", description='as its agent reports it; "fake '
                            '(simulation)" for simulated hosts')
    reserved_for: list[str] = Field(default_factory=list, description="empty: anyone's instances")
    networks: list[str] = Field(default_factory=list, description="those it reaches; empty: all")
    groups: list[str] = Field(default_factory=list, description="owner/group of its instances")


class HostStateIn(Wire):
    state: HostState | None = Field(default=None,
                                    description="Normal, or Drained to take no new instances")
    reserved_for: list[UserName] | None = Field(
        default=None, max_length=100,
        description="take only these users' instances; [] for anyone's again")


class HostSlotsOut(Wire):
    name: str
    slots: int
    why: str = Field(description="what limits it: cores, memory, down, Drained ...")


class SlotsOut(Wire):
    cores: int
    memory_mib: int
    total: int
    hosts: list[HostSlotsOut]


class LayoutInstanceOut(Wire):
    id: int
    name: str
    owner: str
    state: InstanceState
    cores: int
    memory_mib: int


class HostLayoutOut(Wire):
    host: HostOut
    instances: list[LayoutInstanceOut]


class JoinTokenOut(Wire):
    enabled: bool = Field(description="whether agents may register with a join token")
    token: str | None = Field(default=None, description="a new join token; shown once")


class HostCredentialOut(Wire):
    host: HostOut
    token: str = Field(description="the agent's credential; shown once")
