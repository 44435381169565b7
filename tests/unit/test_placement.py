"""The pure placement core."""

from __future__ import annotations

from tashi.domain.resources import ZERO, Resources
from tashi.domain.states import HostState
from tashi.scheduler.placement import HostSnapshot, PlacementRequest, Placer


def host(name: str, cores: int = 4, mem: int = 4096, *, up: bool = True,
         state: HostState = HostState.NORMAL, used: Resources = ZERO) -> HostSnapshot:
    return HostSnapshot(name, up, state, Resources(cores, mem), used, 0)


def req(i: int, cores: int = 1, mem: int = 512) -> PlacementRequest:
    return PlacementRequest(i, f"vm{i}", Resources(cores, mem))


def test_spread_alternates_equal_hosts() -> None:
    placer = Placer([host("a"), host("b")])
    assert [placer.place(req(i)).host for i in range(4)] == ["a", "b", "a", "b"]


def test_pack_fills_one_host_first() -> None:
    placer = Placer([host("a", mem=2048), host("b", mem=2048)], "pack")
    got = [placer.place(req(i)).host for i in range(6)]
    assert got[:4] == [got[0]] * 4  # 4 x 512 MiB fill the first host
    assert got[4:] == [got[4]] * 2
    assert got[4] != got[0]


def test_never_overcommits() -> None:
    placer = Placer([host("a", cores=2, mem=1024)])
    hosts = [placer.place(req(i, cores=1, mem=512)).host for i in range(3)]
    assert hosts == ["a", "a", None]


def test_explains_why_nothing_fits() -> None:
    placer = Placer([host("a", mem=1536), host("b", up=False),
                     host("c", state=HostState.DRAINED), host("d", mem=1024)])
    decision = placer.place(req(1, mem=2048))
    assert decision.host is None
    assert decision.reason == ("no host fits: 2 lack memory (need 2048 MiB, best has 1536), "
                               "1 down, 1 drained")


def test_no_hosts_at_all() -> None:
    assert Placer([]).place(req(1)).reason == "no host fits: no hosts are registered"
