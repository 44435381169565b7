"""The store contract's listings (``Store.list_instances`` and ``Store.list_hosts``):
filters and keyset pages, alike on every store of ``test_store_contract.STORES``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from tashi.domain.models import Instance, NewInstance, NicSpec
from tashi.domain.states import HostState, InstanceState
from tashi.store.base import Store
from tests.integration.test_store_contract import STORES, given_images, opened, spec

S = InstanceState


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        yield store


def create(store: Store, name: str, owner: str = "alice",
           networks: tuple[str, ...] = ("default",)) -> Instance:
    nics = tuple(NicSpec(n, f"52:54:00:00:00:{i:02x}") for i, n in enumerate(networks))
    return store.create_instance(*given_images(
        store, NewInstance(name=name, owner=owner, spec=replace(spec(), nics=nics))))


def test_a_name_prefix_is_the_start_of_the_name_case_and_all(store: Store) -> None:
    web1, web2, db, odd = (create(store, n) for n in ("web-1", "web-2", "db", "w_b"))
    assert store.list_instances(name_prefix="web") == [web1, web2]
    assert store.list_instances(name_prefix="web-2") == [web2]
    assert store.list_instances(name_prefix="WEB") == []  # not LIKE, which ignores case
    assert store.list_instances(name_prefix="w_") == [odd]  # no wildcard either
    assert store.list_instances(name_prefix="w%") == []
    assert store.list_instances(name_prefix="d", owner="alice") == [db]
    assert store.list_instances(name_prefix="") == [web1, web2, db, odd]


def test_a_network_is_one_of_the_nics(store: Store) -> None:
    plain = create(store, "plain")
    both = create(store, "both", networks=("default", "lab"))
    lab = create(store, "lab-only", networks=("lab",))
    none = create(store, "none", networks=())
    assert store.list_instances(network="default") == [plain, both]
    assert store.list_instances(network="lab") == [both, lab]
    assert store.list_instances(network="la") == []
    assert store.list_instances(network="lab", name_prefix="b") == [both]
    assert none in store.list_instances()


def test_pages_are_after_an_id_in_id_order(store: Store) -> None:
    made = [create(store, f"vm{n}", owner="alice" if n % 2 else "bob") for n in range(7)]
    assert store.list_instances(limit=3) == made[:3]
    assert store.list_instances(after=made[2].id, limit=3) == made[3:6]
    assert store.list_instances(after=made[5].id, limit=3) == made[6:]
    assert store.list_instances(after=made[6].id) == []
    assert store.list_instances(after=0) == made
    alices = [i for i in made if i.owner == "alice"]
    assert store.list_instances(owner="alice", after=alices[0].id, limit=2) == alices[1:3]


def test_walking_pages_meets_every_instance_once_while_others_come_and_go(
        store: Store) -> None:
    made = [create(store, f"vm{n}") for n in range(10)]
    seen: list[int] = []
    after: int | None = None
    while True:
        page = store.list_instances(after=after, limit=3)
        seen += [i.id for i in page]
        if len(page) < 3:
            break
        after = page[-1].id
        gone = made.pop(0)  # one already seen, destroyed
        store.delete_instance(gone.id, generation=gone.generation)
        made.append(create(store, f"new{len(seen)}"))  # past the page: seen later
    assert len(seen) == len(set(seen))
    assert sorted(seen) == seen
    assert {i.id for i in made} <= set(seen)


def test_states_and_pages_combine(store: Store) -> None:
    made = [create(store, f"vm{n}") for n in range(5)]
    bound = [store.update_instance(i.id, generation=i.generation,
                                   spec=replace(i.spec, host="node1")) for i in made[1::2]]
    assert {i.state for i in bound} == {S.ACTIVATING}
    assert store.list_instances(states=[S.ACTIVATING], limit=1) == bound[:1]
    assert store.list_instances(states=[S.ACTIVATING], after=bound[0].id) == bound[1:]
    assert store.list_instances(states=[S.PENDING], host="node1") == []
    assert store.list_instances(host="node1", after=bound[0].id, limit=5) == bound[1:]


def test_hosts_are_listed_by_name_bytewise_and_paged(store: Store) -> None:
    for name in ("h2", "h10", "h-1", "h_1", "a", "h1"):
        store.create_host(name)
    store.set_host_state("h10", HostState.DRAINED)
    names = ["a", "h-1", "h1", "h10", "h2", "h_1"]  # bytewise: - < digits < _
    assert [h.name for h in store.list_hosts()] == names
    assert [h.name for h in store.list_hosts(limit=2)] == names[:2]
    assert [h.name for h in store.list_hosts(after="h-1", limit=3)] == names[2:5]
    assert [h.name for h in store.list_hosts(after="h2")] == names[5:]
    assert [h.name for h in store.list_hosts(after="h_1")] == []
    assert [h.name for h in store.list_hosts(after="h")] == names[1:]  # need not exist
    assert [h.name for h in store.list_hosts(states=[HostState.DRAINED])] == ["h10"]
    assert [h.name for h in store.list_hosts(states=[HostState.NORMAL], after="h1",
                                             limit=2)] == ["h2", "h_1"]
