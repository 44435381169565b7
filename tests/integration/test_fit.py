"""One fit rule (tashi.scheduler.fit) for placement, binding and slots: cores, memory
and disk as one resource vector, reservations, networks, groups."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tashi.domain.models import DiskSpec, NetworkKind, NewInstance, NicSpec
from tashi.store.base import Store
from tashi.store.binding import Binding
from tests.integration.conftest import Rig
from tests.integration.test_cluster_lifecycle import vm
from tests.integration.test_store_contract import (
    CAPABILITIES,
    STORES,
    given_images,
    opened,
    spec,
)


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        given_images(store, NewInstance("any", "alice", spec()))
        store.create_host("small")
        store.record_heartbeat("small", cores=8, memory_mib=8192, disk_gib=20,
                               agent_version="t", at=datetime.now(UTC))
        yield store


def test_binding_counts_disk_claims(store: Store) -> None:
    """The store's check used to ignore disk: two 15 GiB scratch disks on a 20 GiB host."""
    base = spec()
    asking = replace(base, disks=(*base.disks, DiskSpec(size_gib=15, scratch=True)))
    one, two = store.create_instances([NewInstance("d1", "alice", asking),
                                       NewInstance("d2", "alice", asking)])
    first, second = store.bind_instances([Binding(one.id, "small", 1),
                                          Binding(two.id, "small", 1)])
    assert first.instance is not None
    assert second.error is not None
    assert "lack disk (need 15 GiB, best has 5)" in second.error.message
    assert store.usage_by_host()["small"].used.disk_gib == 15


def test_binding_checks_the_hosts_networks_through_the_same_rule(store: Store) -> None:
    nic = NicSpec(network="default", mac="52:54:00:00:00:01")
    inst = store.create_instance(NewInstance("n1", "alice", replace(spec(), nics=(nic,))))
    (bound,) = store.bind_instances([Binding(inst.id, "small", 1)])
    assert bound.instance is not None  # a host naming no networks reaches all


def test_binding_checks_what_the_hosts_drivers_offer(store: Store) -> None:
    """A NIC model the host's drivers do not offer is refused at binding too, in the
    same words as the scheduler's filter."""
    store.create_network("default", NetworkKind.USER)
    store.record_heartbeat("small", cores=8, memory_mib=8192, disk_gib=20,
                           agent_version="t", at=datetime.now(UTC),
                           capabilities=replace(CAPABILITIES, facts=replace(
                               CAPABILITIES.facts, nic_models=frozenset({"virtio"}))))
    asking = [replace(spec(), nics=(NicSpec("default", f"52:54:00:00:00:0{n}", model),))
              for n, model in ((1, "e1000"), (2, "virtio"))]
    e1000, virtio = store.create_instances([NewInstance("e", "alice", asking[0]),
                                            NewInstance("v", "alice", asking[1])])
    refused, bound = store.bind_instances([Binding(e1000.id, "small", 1),
                                           Binding(virtio.id, "small", 1)])
    assert refused.error is not None
    assert refused.error.message == ("host small refuses instance e: lack NIC model e1000")
    assert bound.instance is not None


async def test_slots_use_the_vector_and_reservations(scheduled: Rig) -> None:
    await scheduled.add_host("h1")  # fake driver: 8 cores, 8192 MiB, 16 TiB disk
    await scheduled.add_host("h2")
    await scheduled.admin.reserve_host("h2", ["alice"])
    out = await scheduled.admin.slots(2, 1024)
    per_host = {h.name: (h.slots, h.why) for h in out.hosts}
    assert per_host == {"h1": (4, "cores"), "h2": (0, "reserved for alice")}
    host = next(h for h in await scheduled.admin.list_hosts() if h.name == "h1")
    assert host.disk_gib == 16 * 1024  # reported in the heartbeat


async def test_no_host_with_the_disk_keeps_it_pending_with_the_reason(scheduled: Rig) -> None:
    """The scheduler used to assume 2^40 GiB of disk on every host."""
    await scheduled.add_host("h1")
    await scheduled.admin.create_instance(vm("huge", disk_gib=20 * 1024))
    for _ in range(50):
        inst = await scheduled.admin.get_instance("huge")
        if "lack disk" in inst.message:
            break
        await asyncio.sleep(0.1)
    assert inst.state == "Pending"
    assert "1 lack disk (need 20480 GiB, best has 16384)" in inst.message
