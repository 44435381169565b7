"""The store's batches for the scheduler, on every store: creations all or nothing,
bindings checked inside the transaction (and racing batches never overcommit)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tashi.domain.errors import Conflict, InvalidTransition, NotFound
from tashi.domain.models import NewInstance
from tashi.domain.states import HOLDS_RESOURCES, HostState, InstanceState
from tashi.store.base import Store
from tashi.store.binding import Binding
from tashi.store.documents import spec_doc, spec_from_doc, status_from_doc
from tashi.store.transfer import from_document, to_document
from tests.integration.test_store_contract import STORES, given_images, opened, spec

HOSTS = ("h1", "h2", "h3", "h4")


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        for name in HOSTS:
            store.create_host(name, cores=8, memory_mib=8192)
        given_images(store, NewInstance("any", "alice", spec()))
        yield store


def news(n: int, prefix: str = "vm", owner: str = "alice") -> list[NewInstance]:
    return [NewInstance(f"{prefix}-{i}", owner, spec(cores=1, memory_mib=512))
            for i in range(1, n + 1)]


def test_create_instances_all_or_nothing(store: Store) -> None:
    made = store.create_instances(news(3), event="created in a batch")
    assert [i.name for i in made] == ["vm-1", "vm-2", "vm-3"]
    assert [e.message for e in store.list_events(instance_id=made[1].id)] == [
        "created in a batch"]
    with pytest.raises(Conflict, match="'vm-2'"):
        store.create_instances([*news(1, "new"), news(2)[1]])
    with pytest.raises(Conflict, match="asked twice"):
        store.create_instances([*news(1, "x"), *news(1, "x")])
    assert len(store.list_instances()) == 3
    assert len(store.create_instances(news(2, "vm", "bob"))) == 2  # names are per owner


def test_bindings_are_checked_one_by_one(store: Store) -> None:
    a, b, c, d = store.create_instances(news(4))
    store.set_host_state("h2", HostState.DRAINED)
    store.set_host_reservation("h3", ["carol", "bob", "bob"])
    big = store.create_instances([NewInstance("big", "alice", spec(cores=9))])[0]
    results = store.bind_instances([
        Binding(a.id, "h1", 1, "spread"), Binding(a.id, "h1", 1), Binding(b.id, "h2", 1),
        Binding(c.id, "h3", 1), Binding(d.id, "ghost", 1), Binding(big.id, "h4", 1),
        Binding(999, "h1", 1)])
    bound = results[0].instance
    assert bound is not None
    assert bound.state is InstanceState.ACTIVATING
    assert (bound.spec.host, bound.generation) == ("h1", 2)
    assert bound.status.message == "placed on host h1 (spread)"
    errors = [type(r.error) for r in results[1:]]
    assert errors == [Conflict, Conflict, Conflict, NotFound, Conflict, NotFound]
    assert "drained" in str(results[2].error)
    assert "reserved for bob, carol" in str(results[3].error)
    assert "lack " in str(results[5].error)
    assert store.get_host("h3").reserved_for == ("bob", "carol")
    assert store.get_instance(a.id) == bound
    assert store.get_instance(b.id).state is InstanceState.PENDING
    (event,) = store.list_events(instance_id=a.id)
    assert event.message == "Pending -> Activating: placed on host h1 (spread)"
    again = store.bind_instances([Binding(a.id, "h1", 2)])[0]
    assert isinstance(again.error, InvalidTransition)


def test_anti_affinity_is_checked_in_the_store(store: Store) -> None:
    grouped = replace(spec(), group="web", anti_affinity=True)
    one, two = store.create_instances([NewInstance("w1", "alice", grouped),
                                       NewInstance("w2", "alice", grouped)])
    theirs = store.create_instances([NewInstance("w1", "bob", grouped)])[0]
    results = store.bind_instances([Binding(one.id, "h1", 1), Binding(two.id, "h1", 1),
                                    Binding(theirs.id, "h1", 1)])
    assert [r.instance is not None for r in results] == [True, False, True]
    assert "already hold a member of group alice/web" in str(results[1].error)


def test_racing_batches_never_overcommit(store: Store) -> None:
    """Two schedulers, each sure 32 instances fit, bind different instances at once."""
    ids = [i.id for i in store.create_instances(news(200))]
    barrier = threading.Barrier(2)

    def scheduler(order: list[int]) -> int:
        barrier.wait()
        bound = 0
        for start in range(0, len(order), 20):
            batch = [Binding(iid, HOSTS[n % 4], 1) for n, iid in enumerate(order[start:][:20])]
            bound += sum(r.instance is not None for r in store.bind_instances(batch))
        return bound

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(scheduler, [ids[:64], ids[::-1][:64]]))
    holding = store.list_instances(states=HOLDS_RESOURCES)
    assert sum(counts) == len(holding) == 32
    per_host = Counter(i.spec.host for i in holding)
    assert per_host == dict.fromkeys(HOSTS, 8)
    assert all(sum(i.spec.memory_mib for i in holding if i.spec.host == h) <= 8192
               for h in HOSTS)


def test_host_fields_survive_export_and_old_documents_read(store: Store) -> None:
    now = datetime.now(UTC)
    store.record_heartbeat("h1", cores=8, memory_mib=8192, agent_version="0.1", at=now,
                           hypervisor="fake (simulation)")
    store.set_host_reservation("h1", ["alice"])
    doc = to_document(store.snapshot())
    (h1,) = [h for h in from_document(doc, source="test").hosts if h.name == "h1"]
    assert (h1.hypervisor, h1.reserved_for) == ("fake (simulation)", ("alice",))
    for host in doc["hosts"]:  # a document written before these fields existed
        del host["hypervisor"], host["reserved_for"]
    assert {h.reserved_for for h in from_document(doc, source="old").hosts} == {()}
    old_spec = spec_doc(spec())
    assert "group" not in old_spec
    assert spec_from_doc(old_spec, None) == spec()
    assert status_from_doc({"observed": "running", "message": "x"}).failures == ()
