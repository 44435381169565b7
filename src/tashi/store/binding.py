"""Binding Pending instances to hosts, checked inside the store's write.

:meth:`~tashi.store.base.Store.bind_instances` applies a batch of bindings; each one
is checked by :func:`refusal` against the host's usage *as it is inside the same
transaction* (bindings earlier in the batch included), so concurrent schedulers can
never overcommit a host: the second to arrive sees the first one's instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from tashi.domain.derive import awaits_placement, base_state
from tashi.domain.errors import Conflict, InvalidTransition, NotFound, TashiError
from tashi.domain.models import Host, Instance, InstanceStatus
from tashi.domain.resources import ZERO, Resources
from tashi.domain.states import InstanceState
from tashi.scheduler.fit import refusal as refusal_of
from tashi.scheduler.records import host_snapshot, placement_request


@dataclass(frozen=True, slots=True)
class HostUsage:
    """What the instances holding resources on one host use (see
    :data:`~tashi.domain.states.HOLDS_RESOURCES`), and the groups they belong to."""

    used: Resources = ZERO
    instances: int = 0
    groups: frozenset[tuple[str, str]] = frozenset()  # (owner, group)

    def plus(self, instance: Instance) -> HostUsage:
        """This usage once ``instance`` holds resources here too."""
        group = instance.spec.group
        groups = self.groups if group is None else self.groups | {(instance.owner, group)}
        return HostUsage(self.used + instance.spec.resources, self.instances + 1, groups)


def usage_of(holding: Iterable[Instance]) -> dict[str, HostUsage]:
    """Usage by host name, from the instances holding resources (hosts using nothing
    are left out)."""
    usage: dict[str, HostUsage] = {}
    for inst in holding:
        host = inst.spec.host
        if host is not None:
            usage[host] = usage.get(host, IDLE).plus(inst)
    return usage


IDLE = HostUsage()


@dataclass(frozen=True, slots=True)
class Binding:
    """Place Pending instance ``instance_id``, read at ``generation``, on ``host``."""

    instance_id: int
    host: str
    generation: int
    why: str = ""  # the scheduler's reason, kept in the status message and the event


@dataclass(frozen=True, slots=True)
class BindResult:
    """The bound instance, or the error that refused the binding (nothing changed)."""

    instance_id: int
    instance: Instance | None = None
    error: TashiError | None = None


def refusal(binding: Binding, instance: Instance | None, host: Host | None,
            usage: HostUsage, network_kinds: Mapping[str, str]) -> TashiError | None:
    """Why ``binding`` may not be applied (None: it may), given the host's ``usage``
    right now."""
    iid = binding.instance_id
    if instance is None:
        return NotFound(f"instance {iid} not found")
    if instance.generation != binding.generation:
        return Conflict(f"instance {iid} changed (generation {instance.generation}, "
                        f"not {binding.generation})")
    if not awaits_placement(instance.spec, instance.status):
        return InvalidTransition(f"instance {instance.name}: it is {instance.state} on "
                                 f"{instance.spec.host or 'no host'}; only Pending instances "
                                 "(and Resuming ones on no host) are placed")
    if host is None:
        return NotFound(f"host {binding.host} not found")
    return host_refusal(instance, host, usage, network_kinds)


def host_refusal(instance: Instance, host: Host, usage: HostUsage,
                  network_kinds: Mapping[str, str]) -> TashiError | None:
    """The one fit rule (:func:`tashi.scheduler.fit.refusal`) on ``host`` as it is now."""
    snapshot = host_snapshot(host, usage.used, usage.instances, usage.groups)
    why = refusal_of(snapshot, placement_request(instance, network_kinds))
    return None if why is None else Conflict(
        f"host {host.name} refuses instance {instance.name}: {why}")


def bound(instance: Instance, binding: Binding, at: datetime) -> Instance:
    """``instance`` once ``binding`` is applied: on its host with nothing observed there
    yet (so Activating), generation bumped."""
    status: InstanceStatus = replace(instance.status, message=placed_message(binding),
                                     observed_at=at, observed="", ran=False, ended=False,
                                     held=False)
    spec = replace(instance.spec, host=binding.host)
    return replace(instance, state=base_state(spec, status), spec=spec, status=status,
                   generation=instance.generation + 1, updated_at=at)


def placed_message(binding: Binding) -> str:
    why = f" ({binding.why})" if binding.why else ""
    return f"placed on host {binding.host}{why}"


def event_message(binding: Binding, old: InstanceState, new: InstanceState) -> str:
    return f"{old} -> {new}: {placed_message(binding)}"
