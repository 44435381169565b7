"""The pure placement core's types: what a host looks like to the scheduler, what an
instance asks for, and what the scheduler decided.

Every type is frozen. Capacities, usage and requests are resource vectors
(:class:`~tashi.domain.resources.Resources`: cores, memory, disk). Optional fields have
defaults that change nothing: nobody reserved, all networks, no group, no persistent
disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tashi.domain.capabilities import HostCapabilities
from tashi.domain.needs import NO_NEEDS, Needs
from tashi.domain.resources import ZERO, Resources
from tashi.domain.states import HostState


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """One host as the scheduler sees it: its capacity and what is used of it.

    ``reserved_for``: the users whose instances this host takes (empty: anyone).
    ``networks``: the networks it reaches (empty: all of them).
    ``groups``: the instance groups it already holds a member of (anti-affinity).
    ``capabilities``: what its drivers can do (None: its agent never said).
    """

    name: str
    up: bool
    state: HostState
    capacity: Resources
    used: Resources = ZERO
    instances: int = 0
    reserved_for: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    capabilities: HostCapabilities | None = None

    @property
    def free(self) -> Resources:
        return self.capacity - self.used

    def with_instance(self, request: PlacementRequest) -> HostSnapshot:
        """This host once ``request`` runs on it."""
        groups = self.groups | {request.group} if request.group else self.groups
        return HostSnapshot(
            self.name, self.up, self.state, self.capacity, self.used + request.resources,
            self.instances + 1, self.reserved_for, self.networks, groups, self.capabilities)


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """What one instance asks of a host.

    ``resources``: what it claims (``disk_gib``: scratch and overlay space, 0: none
    asked). ``target_host``: the host
    asked for; with ``allow_elsewhere`` another host is taken when it does not fit.
    ``group`` names the instance's group; with ``anti_affinity`` no two members of it
    share a host. ``persistent_images``: images it writes to, which no other instance
    may have open. ``networks``: those it needs on its host. ``needs``: the NIC models
    and network kinds its host's drivers must offer.
    """

    instance_id: int
    name: str
    resources: Resources
    owner: str = ""
    target_host: str | None = None
    allow_elsewhere: bool = False
    group: str | None = None
    anti_affinity: bool = False
    persistent_images: frozenset[str] = frozenset()
    networks: frozenset[str] = frozenset()
    needs: Needs = NO_NEEDS

    @property
    def shape(self) -> tuple[object, ...]:
        """Everything but the identity: requests of equal shape get equal answers."""
        return (self.resources, self.owner, self.target_host,
                self.allow_elsewhere, self.group, self.anti_affinity,
                self.persistent_images, self.networks, self.needs)

    def elsewhere(self) -> PlacementRequest:
        """The same request without its target host."""
        return replace(self, target_host=None, allow_elsewhere=False)


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    """What the filters know of the cluster beyond single hosts."""

    persistent_images_in_use: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """The hosts and the cluster-wide facts a placement starts from."""

    hosts: tuple[HostSnapshot, ...]
    facts: ClusterFacts = field(default_factory=ClusterFacts)


@dataclass(frozen=True, slots=True)
class Decision:
    request: PlacementRequest
    host: str | None
    reason: str  # why this host, or why none
