"""Hosts: registration, state, slots and layout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    Field,
    StringConstraints,
)

from tashi.api.schemas.base import (
    HostName,
    UserName,
    Wire,
)
from tashi.domain.capabilities import Ability, HostCapabilities, HypervisorFacts
from tashi.domain.claims import Claim, ClaimRole
from tashi.domain.states import HostState, InstanceState

Fact = Annotated[str, StringConstraints(max_length=128)]
Word = Annotated[str, StringConstraints(max_length=64)]
Words = Annotated[list[Word], Field(default_factory=list, max_length=64)]


class CapabilitiesWire(Wire):
    """What a host's drivers can do, as its agent reports it in a heartbeat and the
    manager shows it (see :mod:`tashi.domain.capabilities`)."""

    hypervisor: Word = Field(description='its driver: "qemu", "fake"')
    version: Fact = Field(default="", description="the hypervisor's version")
    accelerator: Word = Field(default="", description='"kvm", "tcg"; empty for none')
    cpu_model: Word = Field(default="", description='the CPU guests see: "max", "host"')
    host_cpu: Fact = Field(default="", description="the host CPU's model name")
    machine_types: Words
    nic_models: Words
    network_kinds: Words
    disk_kinds: Words
    disk_formats: Words
    abilities: Words = Field(description="optional operations: console, pause, suspend, "
                             "live-migration, vnc (unknown ones are ignored)")

    @classmethod
    def of(cls, caps: HostCapabilities) -> CapabilitiesWire:
        f = caps.facts
        return cls(hypervisor=f.hypervisor, version=f.version, accelerator=f.accelerator,
                   cpu_model=f.cpu_model, host_cpu=f.host_cpu,
                   machine_types=sorted(f.machine_types), nic_models=sorted(f.nic_models),
                   network_kinds=sorted(f.network_kinds), disk_kinds=sorted(f.disk_kinds),
                   disk_formats=sorted(f.disk_formats),
                   abilities=sorted(a.value for a in caps.abilities))

    def domain(self) -> HostCapabilities:
        """The domain record; abilities this Tashi does not know (a newer agent's) are
        left out."""
        facts = HypervisorFacts(
            hypervisor=self.hypervisor, version=self.version, accelerator=self.accelerator,
            cpu_model=self.cpu_model, host_cpu=self.host_cpu,
            machine_types=frozenset(self.machine_types), nic_models=frozenset(self.nic_models),
            network_kinds=frozenset(self.network_kinds), disk_kinds=frozenset(self.disk_kinds),
            disk_formats=frozenset(self.disk_formats))
        known = {a.value for a in Ability}
        return HostCapabilities(facts, frozenset(Ability(a) for a in self.abilities
                                                 if a in known))


class HostCreate(Wire):
    name: HostName


class HostOut(Wire):
    name: str
    state: HostState
    up: bool
    silent: bool = Field(default=False, description="found silent by the liveness sweep: "
                         "its instances show Orphaned until it heartbeats again")
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
    capabilities: CapabilitiesWire | None = Field(
        default=None, description="what its drivers can do (null: its agent never said)")


class ClaimOut(Wire):
    """What an instance holds on a host (see :mod:`tashi.domain.claims`)."""

    instance_id: int
    instance: str
    owner: str
    host: str
    role: ClaimRole = Field(description="primary: its bound host; incoming: its migration "
                            "target")
    cores: int
    memory_mib: int
    disk_gib: int
    since: datetime

    @classmethod
    def of(cls, c: Claim) -> ClaimOut:
        r = c.resources
        return cls(instance_id=c.instance_id, instance=c.instance, owner=c.owner, host=c.host,
                   role=c.role, cores=r.cores, memory_mib=r.memory_mib, disk_gib=r.disk_gib,
                   since=c.since)


class HostDetailOut(HostOut):
    """One host, with the claims on it."""

    claims: list[ClaimOut] = Field(default_factory=list)


class HostStateIn(Wire):
    state: HostState | None = Field(default=None,
                                    description="Normal; Drained to take no new instances; "
                                    "Evacuating to move away what it runs, then Drained")
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
