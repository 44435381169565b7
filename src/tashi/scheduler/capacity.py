"""Capacity planning, offline (Ganeti's ``hspace``): how many more instances of one
size fit, and which resource runs out first.

:func:`plan_capacity` places that size with the pure core, again and again, until
nothing fits; it works on any list of host snapshots — a described cluster
(:func:`hosts_of_groups`) or the current one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tashi.domain.errors import InvalidInput
from tashi.domain.resources import CLASSES, WORDS, Resources
from tashi.domain.states import HostState
from tashi.scheduler.explain import run_filters
from tashi.scheduler.filters import CoreFilter, DiskFilter, MemoryFilter
from tashi.scheduler.model import HostSnapshot, PlacementRequest
from tashi.scheduler.placer import Placer
from tashi.scheduler.policy import DEFAULT_POLICY, Policy, policy_named

#: Stop after this many placements unless told otherwise.
DEFAULT_LIMIT = 1_000_000
RESOURCES = tuple(WORDS[c] for c in CLASSES)  # "cores", "memory", "disk"
_CAPACITY_FILTERS = (CoreFilter, MemoryFilter, DiskFilter)


@dataclass(frozen=True, slots=True)
class InstanceSize:
    cores: int
    memory_mib: int
    disk_gib: int = 0

    @property
    def resources(self) -> Resources:
        return Resources(self.cores, self.memory_mib, self.disk_gib)


@dataclass(frozen=True, slots=True)
class HostGroup:
    """``count`` alike hosts, named ``<name>-1`` ... ``<name>-<count>``."""

    name: str
    count: int
    cores: int
    memory_mib: int
    disk_gib: int = 0


@dataclass(frozen=True, slots=True)
class HostFit:
    name: str
    group: str
    instances: int
    #: what stops more: "cores", "memory", "disk", or the refusing filter ("up", ...)
    binding: str


@dataclass(frozen=True, slots=True)
class GroupFit:
    name: str
    hosts: int
    instances: int
    binding: str  # the most common binding among its hosts


@dataclass(frozen=True, slots=True)
class CapacityReport:
    size: InstanceSize
    policy: str
    total: int
    hosts: tuple[HostFit, ...]
    groups: tuple[GroupFit, ...]
    #: the binding constraint: the resource that ran out first on the most hosts
    #: ("none": none ran out anywhere)
    binding: str
    #: per binding, on how many hosts, most first
    bindings: tuple[tuple[str, int], ...]
    #: why the last placement was refused (or that the limit was reached)
    stopped: str
    limited: bool = False


def hosts_of_groups(groups: Sequence[HostGroup]) -> tuple[list[HostSnapshot], dict[str, str]]:
    """Up, Normal, empty hosts for ``groups``; and each host's group by host name."""
    hosts, group_of = [], {}
    for g in groups:
        for i in range(1, g.count + 1):
            name = f"{g.name}-{i}"
            hosts.append(HostSnapshot(name, True, HostState.NORMAL,
                                      Resources(g.cores, g.memory_mib, g.disk_gib)))
            group_of[name] = g.name
    return hosts, group_of


def plan_capacity(hosts: Sequence[HostSnapshot], size: InstanceSize, *,
                  group_of: Mapping[str, str] | None = None,
                  policy: Policy | str = DEFAULT_POLICY,
                  limit: int = DEFAULT_LIMIT) -> CapacityReport:
    """Place ``size`` on ``hosts`` until nothing fits (or ``limit`` placements)."""
    chosen = policy_named(policy) if isinstance(policy, str) else policy
    placer = Placer(hosts, chosen)
    per_host: Counter[str] = Counter()
    stopped = f"the limit of {limit} instances was reached"
    limited = True
    for i in range(limit):
        decision = placer.place(_request(i, size))
        if decision.host is None:
            stopped, limited = decision.reason, False
            break
        per_host[decision.host] += 1
    fits = _host_fits(hosts, placer, chosen, size, per_host, group_of or {})
    bindings = Counter(f.binding for f in fits).most_common()
    binding = next((b for b, _ in bindings if b in RESOURCES), "none")
    return CapacityReport(size, chosen.name, sum(per_host.values()), fits,
                          _group_fits(fits), binding, tuple(bindings), stopped, limited)


def _request(i: int, size: InstanceSize) -> PlacementRequest:
    return PlacementRequest(i, f"plan-{i}", size.resources)


def _host_fits(before: Sequence[HostSnapshot], placer: Placer, policy: Policy,
               size: InstanceSize, per_host: Mapping[str, int],
               group_of: Mapping[str, str]) -> tuple[HostFit, ...]:
    """Per host (in the given order): how many it took and what stops more."""
    after = {h.name: h for h in placer.hosts()}
    run = run_filters(policy.filters, after.values(), _request(0, size), placer.facts)
    refused_by = {h.name: f for f, hosts in run.removed for h in hosts}
    fits = []
    for host in before:
        f = refused_by.get(host.name)
        if f is None:
            binding = "limit"
        elif isinstance(f, _CAPACITY_FILTERS):
            binding = ran_out_first(host, after[host.name], size)
        else:
            binding = f.name
        fits.append(HostFit(host.name, group_of.get(host.name, "all"),
                            per_host.get(host.name, 0), binding))
    return tuple(fits)


def ran_out_first(before: HostSnapshot, after: HostSnapshot, size: InstanceSize) -> str:
    """Of the resources ``after`` lacks for ``size``, the one that held the fewest
    instances of it at the start (ties: cores, memory, disk)."""
    need = size.resources
    lacking = [(before.free.amount(c) // need.amount(c), i, c)
               for i, c in enumerate(CLASSES) if c in need.lacking(after.free)]
    return WORDS[min(lacking)[2]] if lacking else "cores"


def _group_fits(fits: Sequence[HostFit]) -> tuple[GroupFit, ...]:
    names = list(dict.fromkeys(f.group for f in fits))
    groups = []
    for name in names:
        members = [f for f in fits if f.group == name]
        binding = Counter(f.binding for f in members).most_common(1)[0][0]
        groups.append(GroupFit(name, len(members), sum(f.instances for f in members),
                               binding))
    return tuple(groups)


_GROUP_FIELDS = ("name", "count", "cores", "memory_mib", "disk_gib")


def groups_of_data(data: Mapping[str, Any]) -> list[HostGroup]:
    """Host groups from a parsed cluster description (TOML ``[[groups]]`` tables or JSON
    ``{"groups": [...]}``), each ``name``, ``count``, ``cores``, ``memory_mib`` and
    optionally ``disk_gib``. :class:`InvalidInput` says what is wrong, in one line."""
    raw = data.get("groups")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput('cluster description: needs a non-empty list "groups"')
    groups = [_group(f"cluster description: group {i}", item) for i, item in enumerate(raw, 1)]
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise InvalidInput("cluster description: group names must differ")
    return groups


def _group(where: str, item: object) -> HostGroup:
    if not isinstance(item, dict):
        raise InvalidInput(f"{where}: not a table")
    unknown = sorted(set(item) - set(_GROUP_FIELDS))
    if unknown:
        raise InvalidInput(f"{where}: unknown field {unknown[0]}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}: needs a name")
    where = f"cluster description: group {name}"
    return HostGroup(name, _number(where, item, "count", 1), _number(where, item, "cores", 1),
                     _number(where, item, "memory_mib", 1),
                     _number(where, item, "disk_gib", 0, default=0))


def _number(where: str, item: Mapping[str, object], key: str, least: int,
            default: int | None = None) -> int:
    value = item.get(key, default)
    if value is None:
        raise InvalidInput(f"{where}: missing {key}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{where}: {key} must be a whole number")
    if value < least:
        raise InvalidInput(f"{where}: {key} must be at least {least}, got {value}")
    return value
