"""The placer: filters and weighers together, explanations, and no overcommit."""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Any

import pytest

from tashi.domain.errors import InvalidInput
from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.placement import (
    ClusterFacts,
    ClusterSnapshot,
    HostSnapshot,
    PlacementRequest,
    Placer,
    policy_named,
)


def host(name: str, cores: int = 8, mem: int = 8192, disk_gib: int = 0,
         **kw: Any) -> HostSnapshot:
    fields: dict[str, Any] = {"up": True, "state": HostState.NORMAL, **kw}
    return HostSnapshot(name, capacity=Resources(cores, mem, disk_gib), **fields)


def req(i: int = 1, cores: int = 1, mem: int = 512, disk_gib: int = 0,
        **kw: Any) -> PlacementRequest:
    return PlacementRequest(i, f"vm{i}", Resources(cores, mem, disk_gib), **kw)


def test_explains_a_refusal_in_numbers() -> None:
    hosts = [host("a", mem=1536), host("b", mem=1024), host("c", mem=512),
             host("d", state=HostState.DRAINED),
             host("e", reserved_for=frozenset({"alice"}))]
    decision = Placer(hosts).place(req(mem=2048, owner="bob"))
    assert decision.host is None
    assert decision.reason == ("no host fits: 3 lack memory (need 2048 MiB, best has 1536), "
                               "1 drained, 1 reserved for alice")


def test_a_refusal_is_remembered_for_requests_of_the_same_shape() -> None:
    placer = Placer([host("a", mem=1024)])
    first = placer.place(req(1, mem=2048))
    again = placer.place(req(2, mem=2048))
    assert again.host is None
    assert again.reason == first.reason
    assert again.request.instance_id == 2
    assert placer.place(req(3, mem=1024)).host == "a"  # another shape is asked afresh


def test_successive_placements_count_usage() -> None:
    placer = Placer([host("a", cores=4, mem=4096, disk_gib=10)])
    assert placer.place(req(1, cores=2, mem=1024, disk_gib=6)).host == "a"
    assert placer.place(req(2, cores=2, mem=1024, disk_gib=6)).reason == (
        "no host fits: 1 lack disk (need 6 GiB, best has 4)")
    assert placer.place(req(3, cores=2, mem=1024, disk_gib=4)).host == "a"
    (a,) = placer.hosts()
    assert (a.used, a.instances) == (Resources(4, 2048, 10), 2)
    assert placer.place(req(4, cores=1, mem=16)).reason == (
        "no host fits: 1 lack cores (need 1, best has 0)")


def test_reserved_hosts_take_only_their_users() -> None:
    hosts = [host("alices", mem=65536, reserved_for=frozenset({"alice"})), host("open")]
    placer = Placer(hosts)
    assert placer.place(req(1, owner="bob")).host == "open"
    assert placer.place(req(2, owner="alice")).host == "alices"  # the most free memory
    assert placer.place(req(3, owner="bob", mem=8192)).reason == (
        "no host fits: 1 reserved for alice, 1 lack memory (need 8192 MiB, best has 7680)")


def test_target_host_is_taken_when_it_fits_even_if_not_the_best() -> None:
    placer = Placer([host("big", mem=65536), host("small", mem=2048)])
    decision = placer.place(req(target_host="small"))
    assert decision.host == "small"
    assert decision.reason.startswith("the requested host")


def test_target_host_that_does_not_fit_refuses_without_allow_elsewhere() -> None:
    placer = Placer([host("big", mem=65536), host("small", mem=1024), host("c")])
    decision = placer.place(req(mem=2048, target_host="small"))
    assert decision.host is None
    assert decision.reason == ("no host fits: 2 not the requested host small, "
                               "1 lack memory (need 2048 MiB, best has 1024)")


def test_target_host_that_does_not_fit_falls_back_with_allow_elsewhere() -> None:
    placer = Placer([host("big", mem=65536), host("small", mem=1024), host("c")])
    decision = placer.place(req(mem=2048, target_host="small", allow_elsewhere=True))
    assert decision.host == "big"
    assert decision.reason.startswith("requested host small does not fit; spread policy")
    refused = placer.place(req(mem=1 << 20, target_host="small", allow_elsewhere=True))
    assert refused.reason.startswith("no host fits: 3 lack memory")


def test_unknown_target_host() -> None:
    placer = Placer([host("a")])
    assert placer.place(req(target_host="zz")).reason == (
        "no host fits: the requested host zz is not registered")
    assert placer.place(req(target_host="zz", allow_elsewhere=True)).host == "a"


def test_anti_affinity_spreads_a_group_over_distinct_hosts() -> None:
    hosts = [host("a", mem=65536), host("b"), host("c", groups=frozenset({"web"}))]
    placer = Placer(hosts, "pack")  # pack would put them all together otherwise
    got = [placer.place(req(i, group="web", anti_affinity=True)).host for i in range(3)]
    assert sorted(str(h) for h in got[:2]) == ["a", "b"]
    assert got[2] is None
    assert placer.place(req(9, group="web", anti_affinity=True)).reason == (
        "no host fits: 3 already hold a member of group web")
    assert placer.place(req(10, group="web")).host is not None  # no anti-affinity asked


def test_persistent_image_is_never_started_twice() -> None:
    snapshot = ClusterSnapshot((host("a"), host("b")), ClusterFacts(frozenset({"old"})))
    placer = Placer(snapshot)
    db = frozenset({"db"})
    assert placer.place(req(1, persistent_images=db)).host is not None
    assert placer.place(req(2, persistent_images=db)).reason == (
        "no host fits: 2 refused: persistent image db already in use")
    assert placer.place(req(3, persistent_images=frozenset({"old"}))).host is None
    assert placer.place(req(4)).host is not None
    assert placer.facts.persistent_images_in_use == {"old", "db"}


def test_networks_pick_a_host_that_reaches_them() -> None:
    hosts = [host("plain", mem=65536, networks=frozenset({"default"})),
             host("storage", networks=frozenset({"default", "san"})), host("any", mem=1024)]
    placer = Placer(hosts)
    assert placer.place(req(1, networks=frozenset({"san"}))).host == "storage"
    assert placer.place(req(2, networks=frozenset({"default"}))).host == "plain"
    assert placer.place(req(3, mem=2048, networks=frozenset({"wan"}))).reason == (
        "no host fits: 2 lack network wan, 1 lack memory (need 2048 MiB, best has 1024)")


def test_down_and_mismatched_hosts_take_nothing() -> None:
    placer = Placer([host("a", up=False), host("b", state=HostState.VERSION_MISMATCH)])
    assert placer.place(req()).reason == "no host fits: 1 down, 1 version mismatch"


def test_a_request_for_no_core_still_gets_an_exact_answer() -> None:
    placer = Placer([host("a", cores=1), host("b", cores=1, mem=4096)])
    assert placer.place(req(1, cores=1, mem=16)).host == "a"
    assert placer.place(req(2, cores=0, mem=16)).host == "a"  # no free core, most memory


def test_logs_what_each_filter_removed_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    hosts = [host("a", mem=1024), host("b", up=False), host("c")]
    with caplog.at_level(logging.DEBUG, logger="tashi.scheduler.placer"):
        Placer(hosts).place(req(7, mem=2048))
    assert ("instance 7 (vm7): spread policy: 3 hosts, filters removed up -1, memory -1; "
            "1 left") in caplog.messages


def test_unknown_policy_names_the_choices() -> None:
    with pytest.raises(InvalidInput, match="no placement policy 'fifo'; choose one of pack, "
                                           "spread"):
        policy_named("fifo")


def random_cluster(rng: random.Random, n: int) -> list[HostSnapshot]:
    def pick(*choices: frozenset[str]) -> frozenset[str]:
        return rng.choice(choices)

    return [host(f"h{i:03d}", cores=rng.randint(1, 16), mem=rng.choice([1024, 4096, 16384]),
                 disk_gib=rng.choice([0, 50, 200]), up=rng.random() > 0.1,
                 state=HostState.DRAINED if rng.random() < 0.1 else HostState.NORMAL,
                 reserved_for=pick(frozenset(), frozenset(), frozenset({"alice"})),
                 networks=pick(frozenset(), frozenset({"default"}),
                               frozenset({"default", "san"})),
                 groups=pick(frozenset(), frozenset({"g1"})))
            for i in range(n)]


def random_request(rng: random.Random, i: int) -> PlacementRequest:
    group = rng.choice([None, "g1", "g2"])
    return req(i, cores=rng.randint(0, 4), mem=rng.choice([128, 512, 1024, 3000]),
               owner=rng.choice(["alice", "bob"]), disk_gib=rng.choice([0, 0, 10, 60]),
               target_host=rng.choice([None] * 8 + [f"h{rng.randrange(40):03d}"]),
               allow_elsewhere=rng.random() < 0.5, group=group,
               anti_affinity=group is not None and rng.random() < 0.5,
               persistent_images=rng.choice([frozenset()] * 8 + [frozenset({f"p{i % 5}"})]),
               networks=rng.choice([frozenset(), frozenset({"default"}), frozenset({"san"})]))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("policy", ["spread", "pack"])
def test_no_overcommit_under_1000_random_requests(seed: int, policy: str) -> None:
    rng = random.Random(seed)
    hosts = random_cluster(rng, 40)
    placer = Placer(hosts, policy)
    decisions = [placer.place(random_request(rng, i)) for i in range(1000)]
    used: Counter[tuple[str, str]] = Counter()
    members: Counter[tuple[str, str]] = Counter()
    images: Counter[str] = Counter()
    by_name = {h.name: h for h in hosts}
    for d in decisions:
        if d.host is None:
            continue
        h, r = by_name[d.host], d.request
        assert h.up
        assert h.state is HostState.NORMAL
        assert not h.reserved_for or r.owner in h.reserved_for
        assert not h.networks or r.networks <= h.networks
        used[d.host, "cores"] += r.resources.cores
        used[d.host, "memory"] += r.resources.memory_mib
        used[d.host, "disk"] += r.resources.disk_gib
        if r.anti_affinity:
            assert r.group not in h.groups
            members[d.host, str(r.group)] += 1
            assert members[d.host, str(r.group)] == 1
        images.update(r.persistent_images)
    for h in hosts:
        assert used[h.name, "cores"] <= h.capacity.cores
        assert used[h.name, "memory"] <= h.capacity.memory_mib
        assert used[h.name, "disk"] <= max(h.capacity.disk_gib, 0)
    assert all(n == 1 for n in images.values())
    assert sum(d.host is not None for d in decisions) > 100


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("policy", ["spread", "pack"])
def test_the_index_answers_exactly_what_asking_every_host_answers(seed: int,
                                                                   policy: str) -> None:
    rng = random.Random(seed)
    hosts = random_cluster(rng, 40)
    requests = [random_request(rng, i) for i in range(600)]
    fast, reference = Placer(hosts, policy), Placer(hosts, policy, exhaustive=True)
    for r in requests:
        assert fast.place(r) == reference.place(r)
