"""The store's records as the placement core sees them: a host with what is bound to
it, an instance as a request. Pure; used where records meet the one fit rule
(:mod:`tashi.scheduler.fit`): the store's binding check and the manager's capacity
answers. (The scheduler process itself builds the same types from the API's wire.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tashi.domain.capabilities import Ability
from tashi.domain.models import Host, Instance
from tashi.domain.needs import Needs
from tashi.domain.resources import Resources
from tashi.scheduler.model import HostSnapshot, PlacementRequest


def group_key(owner: str, group: str) -> str:
    """Instance groups belong to their owner: alice's "web" is not bob's."""
    return f"{owner}/{group}"


def host_snapshot(host: Host, used: Resources, instances: int,
                  groups: Iterable[tuple[str, str]], *, up: bool = True) -> HostSnapshot:
    """``host`` with ``used`` of it by ``instances`` instances of ``groups`` (owner,
    group)."""
    return HostSnapshot(host.name, up, host.state, host.capacity, used, instances,
                        reserved_for=frozenset(host.reserved_for),
                        groups=frozenset(group_key(o, g) for o, g in groups),
                        capabilities=host.capabilities)


def placement_request(instance: Instance,
                      network_kinds: Mapping[str, str] | None = None) -> PlacementRequest:
    """What ``instance`` asks of the host it is bound to (placement wishes aside): room,
    its group, its networks, and what its NICs need of the host's drivers
    (``network_kinds``: each network's kind, for the kinds its NICs need)."""
    spec = instance.spec
    kinds = network_kinds or {}
    return PlacementRequest(
        instance.id, instance.name, spec.resources, owner=instance.owner,
        group=None if spec.group is None else group_key(instance.owner, spec.group),
        anti_affinity=spec.anti_affinity,
        networks=frozenset(n.network for n in spec.nics),
        needs=Needs(nic_models=frozenset(n.model for n in spec.nics),
                    network_kinds=frozenset(kinds[n.network] for n in spec.nics
                                            if n.network in kinds),
                    abilities=needed_abilities(instance)))


def needed_abilities(instance: Instance) -> frozenset[str]:
    """The optional driver operations its host must offer: restoring a saved VM."""
    return frozenset({Ability.SUSPEND.value}) if instance.status.saved else frozenset()
