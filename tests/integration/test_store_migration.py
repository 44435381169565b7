"""A migration's start on every store: the target's room and both hosts' migrations
under way, checked in the writing transaction (racing starts never pass the limit)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from tashi.domain.derive import Observed
from tashi.domain.errors import Conflict
from tashi.domain.migration import MigrationSpec
from tashi.domain.models import Instance, NewInstance
from tashi.domain.states import InstanceState
from tashi.store.base import Store
from tashi.store.binding import Binding
from tests.integration.test_store_contract import STORES, given_images, opened, spec

HOSTS = ("h1", "h2", "h3")


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        for name in HOSTS:
            store.create_host(name, cores=16, memory_mib=16384)
        given_images(store, NewInstance("any", "alice", spec()))
        yield store


def running_on(store: Store, host: str, n: int, memory_mib: int = 512) -> list[Instance]:
    first = len(store.list_instances())
    made = store.create_instances([NewInstance(f"vm{first + i}", "alice",
                                               spec(cores=1, memory_mib=memory_mib))
                                   for i in range(n)])
    out = []
    for result in store.bind_instances([Binding(i.id, host, i.generation) for i in made]):
        assert result.instance is not None, result.error
        i = result.instance
        out.append(store.set_instance_status(i.id, replace(
            i.status, observed=Observed.RUNNING, observed_generation=i.generation, ran=True)))
    assert all(i.state is InstanceState.RUNNING for i in out)
    return out


def start(store: Store, instance: Instance, target: str, per_host: int = 2) -> Instance:
    assert instance.spec.host is not None
    m = MigrationSpec(instance.spec.migrations + 1, instance.spec.host, target)
    return store.start_migration(instance.id, generation=instance.generation,
                                 spec=replace(instance.spec, migration=m, migrations=m.number),
                                 status=instance.status, per_host=per_host)


def test_a_host_takes_part_in_at_most_its_limit_of_migrations(store: Store) -> None:
    a, b, c = running_on(store, "h1", 3)
    (d,) = running_on(store, "h3", 1)
    assert start(store, a, "h2").state is InstanceState.MIGRATE_PREP
    assert start(store, b, "h3").state is InstanceState.MIGRATE_PREP
    with pytest.raises(Conflict, match=r"host h1 has 2 migration\(s\) under way, its limit "
                       r"\(2 in or out at once\)"):
        start(store, c, "h2")
    assert start(store, d, "h2").spec.migration is not None  # h2: one in so far
    (e,) = running_on(store, "h3", 1)
    with pytest.raises(Conflict, match="host h3 has 2 migration"):  # b in, d out
        start(store, e, "h2")
    assert store.get_instance(c.id).spec.migration is None  # nothing written
    assert start(store, c, "h2", per_host=3).spec.migration is not None


def test_the_target_must_have_room(store: Store) -> None:
    (big,) = running_on(store, "h1", 1, memory_mib=12288)
    running_on(store, "h2", 1, memory_mib=8192)
    with pytest.raises(Conflict, match="host h2 refuses instance vm0"):
        start(store, big, "h2")
    assert start(store, big, "h3").spec.migration is not None


def test_racing_starts_never_pass_the_limit(store: Store) -> None:
    movers = running_on(store, "h1", 8)

    def attempt(instance: Instance) -> bool:
        try:
            start(store, instance, "h2" if instance.id % 2 else "h3", per_host=3)
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        started = sum(pool.map(attempt, movers))
    assert started == 3
    assert sum(i.spec.migration is not None for i in store.list_instances()) == 3
