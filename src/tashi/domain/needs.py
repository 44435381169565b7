"""What an instance asks of its host's drivers, and the one rule of whether a host
offers it: :meth:`Needs.unmet_by`. The scheduler's capability filter applies it to
each host; :func:`never_met` applies it to every registered host at once, so the API
refuses (400) a request no host could ever run instead of holding it after failed
starts.

A host whose agent never reported capabilities (an older agent, or one that has not
heartbeated yet) is taken to offer :data:`BUILTIN`: what Tashi's own drivers know, the
rule from before hosts reported anything. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tashi.domain.capabilities import DiskKind, HostCapabilities, HypervisorFacts, NicModel
from tashi.domain.models import ImageFormat, NetworkKind

#: What a host that never reported capabilities is taken to offer: every NIC model,
#: network kind, disk kind and image format Tashi's drivers know.
BUILTIN = HypervisorFacts(
    hypervisor="", nic_models=frozenset(m.value for m in NicModel),
    network_kinds=frozenset(k.value for k in NetworkKind),
    disk_kinds=frozenset(k.value for k in DiskKind),
    disk_formats=frozenset(f.value for f in ImageFormat))


@dataclass(frozen=True, slots=True)
class Needs:
    """What an instance asks of its host's drivers (empty: any host will do)."""

    nic_models: frozenset[str] = frozenset()
    network_kinds: frozenset[str] = frozenset()
    abilities: frozenset[str] = frozenset()  # optional driver operations, e.g. "suspend"

    def unmet_by(self, facts: HypervisorFacts) -> tuple[str, ...]:
        """What of this ``facts`` lack, in words (``NIC model e1000``); () for none."""
        return (tuple(f"NIC model {m}" for m in sorted(self.nic_models - facts.nic_models))
                + tuple(f"network kind {k}"
                        for k in sorted(self.network_kinds - facts.network_kinds)))

    def unmet_on(self, capabilities: HostCapabilities | None) -> tuple[str, ...]:
        """What a host with ``capabilities`` lacks of these needs, abilities included
        (a host that never reported any has none of the optional ones)."""
        offered = frozenset[str]() if capabilities is None else frozenset(
            map(str, capabilities.abilities))
        return self.unmet_by(facts_of(capabilities)) + tuple(
            f"the {a} ability" for a in sorted(self.abilities - offered))

    def words(self) -> str:
        """All that is asked, in words: ``NIC model virtio, network kind user``."""
        return ", ".join(self.unmet_by(HypervisorFacts(hypervisor="")))


NO_NEEDS = Needs()


def facts_of(capabilities: HostCapabilities | None) -> HypervisorFacts:
    """The facts a host is judged by: :data:`BUILTIN` when it never reported any."""
    return BUILTIN if capabilities is None else capabilities.facts


def never_met(needs: Needs, hosts: Sequence[HostCapabilities | None]) -> str | None:
    """Why no host of ``hosts`` (every registered one, up or not: a down host may come
    back) could ever run an instance with ``needs``, in words; None when one could.
    No hosts at all are judged as :data:`BUILTIN` (a fresh cluster takes what Tashi's
    drivers know)."""
    offers = [facts_of(h) for h in hosts] or [BUILTIN]
    if any(not needs.unmet_by(f) for f in offers):
        return None
    nic_models = _union(f.nic_models for f in offers)
    network_kinds = _union(f.network_kinds for f in offers)
    offered = (f"the hosts offer NIC models {_names(nic_models)} and network kinds "
               f"{_names(network_kinds)}")
    lacking = needs.unmet_by(HypervisorFacts("", nic_models=nic_models,
                                             network_kinds=network_kinds))
    if lacking:
        return f"no host offers {', '.join(lacking)} ({offered})"
    return f"no one host offers all of {needs.words()} ({offered})"


def _union(sets: Iterable[frozenset[str]]) -> frozenset[str]:
    return frozenset[str]().union(*sets)


def _names(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) or "none"
