"""The weighers' orders, their memory windows, and round-robin between equal hosts."""

from __future__ import annotations

from bisect import bisect_left

import pytest

from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.filters import DEFAULT_FILTERS
from tashi.scheduler.placement import HostSnapshot, PlacementRequest, Placer, Policy
from tashi.scheduler.weighers import PackWeigher, SpreadWeigher, Weigher


def host(name: str, mem: int = 4096, used_mem: int = 0, instances: int = 0,
         cores: int = 16) -> HostSnapshot:
    return HostSnapshot(name, True, HostState.NORMAL, Resources(cores, mem),
                        Resources(0, used_mem), instances)


def req(i: int, cores: int = 1, mem: int = 512) -> PlacementRequest:
    return PlacementRequest(i, f"vm{i}", Resources(cores, mem))


def order(w: Weigher, hosts: list[HostSnapshot]) -> list[str]:
    return [h.name for h in sorted(hosts, key=lambda h: (w.key(h), h.name))]


def test_spread_prefers_most_free_memory_then_fewest_instances() -> None:
    hosts = [host("a", used_mem=1024), host("b", instances=3), host("c", instances=1),
             host("d", mem=8192, used_mem=2048)]
    assert order(SpreadWeigher(), hosts) == ["d", "c", "b", "a"]


def test_pack_prefers_least_free_memory_then_most_instances() -> None:
    hosts = [host("a", used_mem=1024), host("b", instances=3), host("c", instances=1),
             host("d", mem=8192, used_mem=2048)]
    assert order(PackWeigher(), hosts) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("w", [SpreadWeigher(), PackWeigher()])
def test_memory_window_holds_exactly_the_hosts_with_enough_memory(w: Weigher) -> None:
    hosts = [host(f"h{free}", mem=8192, used_mem=8192 - free)
             for free in (0, 511, 512, 513, 1024, 4096, 8192)]
    keys = sorted(w.key(h) for h in hosts)
    low, high = w.memory_window(512)
    start = 0 if low is None else bisect_left(keys, low)
    stop = len(keys) if high is None else bisect_left(keys, high)
    inside = sorted(keys[start:stop])
    assert inside == sorted(w.key(h) for h in hosts if h.free.memory_mib >= 512)


class Flat(Weigher):
    """Every host weighs the same: only the round-robin decides."""

    def key(self, host: HostSnapshot) -> tuple[int, ...]:
        return (0,)


@pytest.mark.parametrize("exhaustive", [False, True])
def test_ties_go_round_robin(exhaustive: bool) -> None:
    flat = Policy("flat", DEFAULT_FILTERS, (Flat(),))
    placer = Placer([host("c"), host("a"), host("b")], flat, exhaustive=exhaustive)
    got = [placer.place(req(i)).host for i in range(7)]
    assert got == ["a", "b", "c", "a", "b", "c", "a"]


def test_pack_ties_on_a_fresh_cluster_start_by_name() -> None:
    placer = Placer([host("c"), host("a"), host("b")], "pack")
    assert [placer.place(req(i)).host for i in range(3)] == ["a", "a", "a"]


def test_spread_shares_load_between_equal_hosts() -> None:
    placer = Placer([host(n, cores=64, mem=65536) for n in "abcd"])
    got = [placer.place(req(i)).host for i in range(40)]
    assert sorted(got.count(n) for n in "abcd") == [10, 10, 10, 10]
    assert got[:4] == ["a", "b", "c", "d"]


def test_pack_fills_the_fullest_fitting_host() -> None:
    hosts = [host("big", mem=8192), host("half", mem=8192, used_mem=4096),
             host("tight", mem=8192, used_mem=7680)]
    placer = Placer(hosts, "pack")
    assert placer.place(req(1, mem=1024)).host == "half"  # tight has only 512 left
    assert placer.place(req(2, mem=512)).host == "tight"
