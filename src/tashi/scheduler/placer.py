"""The placer: places requests one after another on a cluster snapshot it keeps up
to date, so successive placements never overcommit a host.

``Placer(hosts, policy).place(request) -> Decision``. The policy is a registered
one (a :class:`Policy` or its name) or an :class:`ExternalPolicy`. With a target
host, that host is tried alone first; when it does not fit, ``allow_elsewhere``
lets the policy pick among all hosts, otherwise the request is refused.

A refusal is explained in numbers and remembered for requests of the same shape:
placements only take resources, so what did not fit will not fit later either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from tashi.scheduler.explain import explain, run_filters
from tashi.scheduler.external import ExternalPolicy
from tashi.scheduler.index import HostIndex, passes_all
from tashi.scheduler.model import (
    ClusterFacts,
    ClusterSnapshot,
    Decision,
    HostSnapshot,
    PlacementRequest,
)
from tashi.scheduler.policy import DEFAULT_POLICY, Policy, policy_named

log = logging.getLogger(__name__)


class Placer:
    """``exhaustive=True`` asks every filter about every host on every request: slow,
    the same answers; the reference the index is tested against."""

    def __init__(self, hosts: Iterable[HostSnapshot] | ClusterSnapshot,
                 policy: Policy | ExternalPolicy | str = DEFAULT_POLICY, *,
                 exhaustive: bool = False) -> None:
        if isinstance(hosts, ClusterSnapshot):
            self._facts, hosts = hosts.facts, hosts.hosts
        else:
            self._facts = ClusterFacts()
        self._policy = policy_named(policy) if isinstance(policy, str) else policy
        ordering = self._policy if isinstance(self._policy, Policy) else policy_named("spread")
        self._index = HostIndex(hosts, ordering)
        self._exhaustive = exhaustive
        self._refused: dict[tuple[object, ...], str] = {}

    @property
    def policy(self) -> Policy | ExternalPolicy:
        return self._policy

    @property
    def does_io(self) -> bool:
        """Whether placing runs a program (an external policy): keep it off event loops."""
        return isinstance(self._policy, ExternalPolicy)

    def hosts(self) -> list[HostSnapshot]:
        """The hosts as they are now, with what was placed on them."""
        return list(self._index.hosts.values())

    @property
    def facts(self) -> ClusterFacts:
        return self._facts

    def place(self, request: PlacementRequest) -> Decision:
        """Pick a host for ``request`` and count it as used there; or say why none."""
        if isinstance(self._policy, ExternalPolicy):
            return self._place_external(self._policy, request)
        shape = request.shape
        refused = self._refused.get(shape)
        if refused is not None:
            return Decision(request, None, refused)
        if log.isEnabledFor(logging.DEBUG):
            self._trace(self._policy, request)
        host, why = self._choose(self._policy, request)
        if host is None:
            reason = self._explain(self._policy, request)
            self._refused[shape] = reason
            return Decision(request, None, reason)
        self._bind(host, request)
        return Decision(request, host.name, why)

    def _choose(self, policy: Policy,
                request: PlacementRequest) -> tuple[HostSnapshot | None, str]:
        target = request.target_host
        if target is not None:
            host = self._index.hosts.get(target)
            if host is not None and passes_all(policy.filters, host, request, self._facts):
                return host, f"the requested host; {_free(host)}"
            if not request.allow_elsewhere:
                return None, ""
            request = request.elsewhere()
        host = self._best(request)
        if host is None:
            return None, ""
        prefix = f"requested host {target} does not fit; " if target is not None else ""
        return host, f"{prefix}{policy} policy: best of the hosts that fit; {_free(host)}"

    def _best(self, request: PlacementRequest) -> HostSnapshot | None:
        if self._exhaustive or not self._index.can_answer(request):
            return self._index.best_exhaustive(request, self._facts)
        return self._index.best(request, self._facts)

    def _explain(self, policy: Policy, request: PlacementRequest) -> str:
        target = request.target_host
        if target is not None and request.allow_elsewhere:
            request = request.elsewhere()
        elif target is not None and target not in self._index.hosts:
            return f"no host fits: the requested host {target} is not registered"
        run = run_filters(policy.filters, self._index.hosts.values(), request, self._facts)
        return explain(run, request)

    def _trace(self, policy: Policy, request: PlacementRequest) -> None:
        """DEBUG: how many hosts each filter removed (asks every host: DEBUG only)."""
        if request.target_host is not None and request.allow_elsewhere:
            request = request.elsewhere()
        run = run_filters(policy.filters, self._index.hosts.values(), request, self._facts)
        log.debug("instance %d (%s): %s policy: %d hosts, filters removed %s; %d left",
                  request.instance_id, request.name, policy, len(self._index.hosts),
                  run.counts() or "none", len(run.passed))

    def _place_external(self, policy: ExternalPolicy, request: PlacementRequest) -> Decision:
        answer = policy.choose(self.hosts(), request)
        if answer.host is None:
            return Decision(request, None, answer.reason)
        host = self._index.hosts.get(answer.host)
        if host is None:
            return Decision(request, None,
                            f"{policy} chose host {answer.host}, which is not registered")
        run = run_filters(policy.filters, [host], request, self._facts)
        if not run.passed:
            why = explain(run, request).removeprefix("no host fits: ")
            return Decision(request, None,
                            f"{policy} chose host {host.name}, which is refused: {why}")
        self._bind(host, request)
        return Decision(request, host.name, answer.reason)

    def _bind(self, host: HostSnapshot, request: PlacementRequest) -> None:
        self._index.update(host.with_instance(request))
        images = request.persistent_images
        if images:
            in_use = self._facts.persistent_images_in_use | images
            self._facts = ClusterFacts(persistent_images_in_use=in_use)


def _free(host: HostSnapshot) -> str:
    cores = host.capacity.cores - host.used.cores
    memory = host.capacity.memory_mib - host.used.memory_mib
    return f"free before: {cores} cores, {memory} MiB"
