"""Each filter alone: what it lets through, and how it explains what it removed."""

from __future__ import annotations

from typing import Any

import pytest

from tashi.domain.needs import Needs
from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.filters import (
    DEFAULT_FILTERS,
    AntiAffinityFilter,
    CapabilityFilter,
    CoreFilter,
    DiskFilter,
    Filter,
    HostStateFilter,
    HostUpFilter,
    MemoryFilter,
    NetworkFilter,
    PersistentImageFilter,
    ReservationFilter,
    Scope,
    TargetHostFilter,
)
from tashi.scheduler.model import ClusterFacts, HostSnapshot, PlacementRequest

NOTHING = ClusterFacts()


def host(name: str = "h1", *, cores: int = 8, mem: int = 8192, used_cores: int = 0,
         used_mem: int = 0, disk_gib: int = 0, used_disk_gib: int = 0,
         **kw: Any) -> HostSnapshot:
    fields: dict[str, Any] = {"up": True, "state": HostState.NORMAL, **kw}
    return HostSnapshot(name, capacity=Resources(cores, mem, disk_gib),
                        used=Resources(used_cores, used_mem, used_disk_gib), **fields)


def req(cores: int = 1, mem: int = 512, disk_gib: int = 0, **kw: Any) -> PlacementRequest:
    return PlacementRequest(1, "vm1", Resources(cores, mem, disk_gib), **kw)


def passes(f: Filter, h: HostSnapshot, r: PlacementRequest,
           facts: ClusterFacts = NOTHING) -> bool:
    return f.passes(h, r, facts)


def test_host_up() -> None:
    f = HostUpFilter()
    assert passes(f, host(), req())
    assert not passes(f, host(up=False), req())
    assert f.explain([host(up=False)] * 2, req()) == [(2, "2 down")]


@pytest.mark.parametrize(("state", "ok"), [(HostState.NORMAL, True),
                                           (HostState.DRAINED, False),
                                           (HostState.VERSION_MISMATCH, False)])
def test_host_state(state: HostState, ok: bool) -> None:
    assert passes(HostStateFilter(), host(state=state), req()) is ok


def test_host_state_explains_each_state() -> None:
    removed = [host("a", state=HostState.DRAINED), host("b", state=HostState.VERSION_MISMATCH),
               host("c", state=HostState.DRAINED)]
    assert HostStateFilter().explain(removed, req()) == [(2, "2 drained"),
                                                         (1, "1 version mismatch")]


def test_cores() -> None:
    f = CoreFilter()
    assert passes(f, host(cores=4, used_cores=2), req(cores=2))
    assert not passes(f, host(cores=4, used_cores=3), req(cores=2))
    removed = [host("a", cores=4, used_cores=3), host("b", cores=4, used_cores=4)]
    assert f.explain(removed, req(cores=2)) == [(2, "2 lack cores (need 2, best has 1)")]


def test_memory() -> None:
    f = MemoryFilter()
    assert passes(f, host(mem=2048, used_mem=1024), req(mem=1024))
    assert not passes(f, host(mem=2048, used_mem=1025), req(mem=1024))
    removed = [host("a", mem=1536), host("b", mem=1024)]
    assert f.explain(removed, req(mem=2048)) == [
        (2, "2 lack memory (need 2048 MiB, best has 1536)")]


def test_disk_only_when_asked() -> None:
    f = DiskFilter()
    assert passes(f, host(), req())  # no disk asked: a host without disk is fine
    assert passes(f, host(disk_gib=100, used_disk_gib=60), req(disk_gib=40))
    assert not passes(f, host(disk_gib=100, used_disk_gib=61), req(disk_gib=40))
    assert f.explain([host(disk_gib=10)], req(disk_gib=20)) == [
        (1, "1 lack disk (need 20 GiB, best has 10)")]


def test_reservation() -> None:
    f = ReservationFilter()
    alice = host(reserved_for=frozenset({"alice"}))
    assert passes(f, host(), req(owner="bob"))  # reserved for nobody: anyone
    assert passes(f, alice, req(owner="alice"))
    assert not passes(f, alice, req(owner="bob"))
    both = host("b", reserved_for=frozenset({"carol", "bob"}))
    assert f.explain([alice, both, alice], req(owner="dave")) == [
        (2, "2 reserved for alice"), (1, "1 reserved for bob, carol")]


def test_target_host() -> None:
    f = TargetHostFilter()
    assert passes(f, host("a"), req())
    assert passes(f, host("a"), req(target_host="a"))
    assert not passes(f, host("b"), req(target_host="a"))
    assert f.explain([host("b")], req(target_host="a")) == [
        (1, "1 not the requested host a")]


def test_persistent_image_is_cluster_wide() -> None:
    f = PersistentImageFilter()
    in_use = ClusterFacts(frozenset({"db"}))
    assert passes(f, host(), req(persistent_images=frozenset({"db"})))
    assert passes(f, host(), req(persistent_images=frozenset({"web"})), in_use)
    assert not passes(f, host(), req(persistent_images=frozenset({"db"})), in_use)
    assert passes(f, host(), req(), in_use)
    assert f.explain([host("a"), host("b")], req(persistent_images=frozenset({"db"}))) == [
        (2, "2 refused: persistent image db already in use")]


def test_anti_affinity() -> None:
    f = AntiAffinityFilter()
    holder = host(groups=frozenset({"web"}))
    assert passes(f, holder, req(group="web"))  # a group without anti-affinity: fine
    assert not passes(f, holder, req(group="web", anti_affinity=True))
    assert passes(f, holder, req(group="db", anti_affinity=True))
    assert f.explain([holder], req(group="web", anti_affinity=True)) == [
        (1, "1 already hold a member of group web")]


def test_networks() -> None:
    f = NetworkFilter()
    assert passes(f, host(), req(networks=frozenset({"storage"})))  # none named: all
    assert passes(f, host(networks=frozenset({"default", "storage"})),
                  req(networks=frozenset({"storage"})))
    assert not passes(f, host(networks=frozenset({"default"})),
                      req(networks=frozenset({"storage", "default"})))
    assert f.explain([host(networks=frozenset({"default"}))],
                     req(networks=frozenset({"storage", "san"}))) == [
        (1, "1 lack network san, storage")]


def test_scopes_promise_what_the_index_relies_on() -> None:
    """Pool-scoped filters answer alike for hosts equal in up/state/reservations/networks/
    capabilities."""
    pooled = {type(f) for f in DEFAULT_FILTERS if f.scope is Scope.POOL}
    assert pooled == {HostUpFilter, HostStateFilter, ReservationFilter, NetworkFilter,
                      CapabilityFilter}
    a = host("a", cores=64, mem=1 << 20, groups=frozenset({"g"}))
    b = host("b", cores=1, mem=16, used_cores=1, used_mem=16)
    for f in DEFAULT_FILTERS:
        if f.scope is not Scope.HOST:
            for r in (req(owner="x"), req(networks=frozenset({"n"})),
                      req(needs=Needs(nic_models=frozenset({"rtl8139"})))):
                assert passes(f, a, r) == passes(f, b, r)
