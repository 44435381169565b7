"""The store contract's quotas (``Store.get_quota`` ... ``Store.delete_quota``, and the
check in creates and resumes), on every store of ``test_store_contract.STORES``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from tashi.domain.errors import Forbidden, InvalidInput, NotFound
from tashi.domain.models import DiskSpec, Instance, InstanceStatus, NewInstance
from tashi.domain.quotas import NO_LIMITS, QuotaField, QuotaLimits, QuotaUse
from tashi.domain.states import InstanceState, Power, Role
from tashi.store.base import Store
from tests.integration.test_store_concurrency import race
from tests.integration.test_store_contract import (
    STORES,
    exit_instance,
    given_images,
    opened,
    spec,
)

S = InstanceState
F = QuotaField


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        store.create_user("alice", Role.USER)
        store.create_user("bob", Role.USER)
        yield store


def create(store: Store, *names: str, cores: int = 1, owner: str = "alice",
           scratch_gib: int = 0) -> list[Instance]:
    disks = spec().disks + ((DiskSpec(size_gib=scratch_gib, scratch=True),)
                            if scratch_gib else ())
    return store.create_instances(given_images(store, *(
        NewInstance(n, owner, replace(spec(cores=cores), disks=disks)) for n in names)))


def suspend(store: Store, inst: Instance) -> Instance:
    """``inst`` once saved and unbound: Suspended on no host (as the manager leaves it)."""
    done = store.update_instance(
        inst.id, generation=inst.generation, spec=replace(inst.spec, power=Power.SUSPENDED),
        status=InstanceStatus("suspended", saved=True))
    assert done.state is S.SUSPENDED
    return done


def resume(store: Store, inst: Instance) -> Instance:
    return store.update_instance(inst.id, generation=inst.generation,
                                 spec=replace(inst.spec, power=Power.RUNNING))


def test_set_keeps_what_it_does_not_name_and_none_is_no_limit(store: Store) -> None:
    assert store.get_quota("alice").limits == NO_LIMITS
    set_ = store.set_quota("alice", {F.CORES: 8, F.MEMORY_MIB: 4096, F.MACHINES: 0})
    assert set_.limits == QuotaLimits(cores=8, memory_mib=4096, machines=0)
    changed = store.set_quota("alice", {F.CORES: None, F.INSTANCES: 3})
    assert changed.limits == QuotaLimits(instances=3, memory_mib=4096, machines=0)
    assert store.get_quota("alice") == changed
    assert [q.user for q in store.list_quotas()] == ["alice"]
    store.set_quota("bob", {F.DISK_GIB: 10})
    assert [q.user for q in store.list_quotas()] == ["alice", "bob"]
    gone = store.delete_quota("alice")
    assert gone.limits == NO_LIMITS
    assert [q.user for q in store.list_quotas()] == ["bob"]
    store.set_quota("bob", {F.DISK_GIB: None})  # no limit left: no quota
    assert store.list_quotas() == []


def test_unknown_users_and_bad_limits_are_refused(store: Store) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.get_quota("carol"), lambda: store.delete_quota("carol"),
        lambda: store.set_quota("carol", {F.CORES: 1})]
    for call in calls:
        with pytest.raises(NotFound, match="user 'carol' not found"):
            call()
    with pytest.raises(InvalidInput, match="quota cores: a limit is a whole number"):
        store.set_quota("alice", {F.CORES: -1})
    assert store.get_quota("alice").limits == NO_LIMITS


def test_use_counts_what_is_not_exited_suspended_or_destroying(store: Store) -> None:
    web, _db, old, saved = create(store, "web", "db", "old", "saved", cores=2, scratch_gib=5)
    exit_instance(store, old)
    suspend(store, saved)
    create(store, "theirs", owner="bob")
    assert store.get_quota("alice").use == QuotaUse(instances=2, cores=4, memory_mib=512,
                                                    disk_gib=10, machines=0)
    store.update_instance(web.id, generation=web.generation,  # no host: at once Destroying
                          spec=replace(web.spec, power=Power.DELETED))
    assert store.get_quota("alice").use.instances == 1


def test_creates_past_a_limit_are_refused_naming_it(store: Store) -> None:
    store.set_quota("alice", {F.CORES: 8})
    create(store, "a", "b", "c", cores=2)
    with pytest.raises(Forbidden, match="quota: alice may use 8 cores, uses 6, asks 4"):
        create(store, "d", "e", cores=2)
    assert len(store.list_instances(owner="alice")) == 3  # the batch: all or nothing
    create(store, "d", cores=2)
    create(store, "other", owner="bob", cores=64)  # bob has no quota
    store.set_quota("alice", {F.DISK_GIB: 4})
    with pytest.raises(Forbidden, match="quota: alice may use 4 GiB of disk, uses 0, asks 5"):
        create(store, "big", cores=0, scratch_gib=5)


def test_an_exited_instance_frees_its_part(store: Store) -> None:
    store.set_quota("alice", {F.INSTANCES: 1})
    (web,) = create(store, "web")
    with pytest.raises(Forbidden, match="quota: alice may use 1 instance, uses 1, asks 1"):
        create(store, "db")
    exit_instance(store, web)
    create(store, "db")


def test_a_resume_counts_as_a_create(store: Store) -> None:
    web, other = create(store, "web", "other", cores=4)
    saved = suspend(store, web)
    store.set_quota("alice", {F.CORES: 6})
    with pytest.raises(Forbidden, match="quota: alice may use 6 cores, uses 4, asks 4"):
        resume(store, saved)
    assert store.get_instance(web.id).state is S.SUSPENDED  # nothing changed
    suspend(store, store.get_instance(other.id))
    assert resume(store, saved).state is S.RESUMING


def test_writes_that_do_not_make_an_instance_count_more_pass(store: Store) -> None:
    """Past a lowered limit, an instance can still be stopped, bound or saved."""
    (web,) = create(store, "web", cores=4)
    store.set_quota("alice", {F.CORES: 1})
    stopping = store.update_instance(web.id, generation=web.generation,
                                     spec=replace(web.spec, power=Power.STOPPED))
    assert stopping.spec.power is Power.STOPPED
    store.set_instance_status(web.id, InstanceStatus("running", ran=True))


def test_concurrent_creates_never_overshoot(store: Store) -> None:
    """Each on an image of its own: creates on one image take turns on its row anyway."""
    store.set_quota("alice", {F.INSTANCES: 5})
    news = iter(given_images(store, *(NewInstance(f"vm{n}", "alice", replace(
        spec(), disks=(DiskSpec(f"image{n}"),))) for n in range(20))))
    wins, errors = race(20, lambda: store.create_instances([next(news)]))
    assert wins == 5
    assert all(isinstance(e, Forbidden) for e in errors), errors
    assert store.get_quota("alice").use.instances == 5


def test_concurrent_resumes_never_overshoot(store: Store) -> None:
    saved = [suspend(store, i) for i in create(store, *(f"vm{n}" for n in range(10)))]
    store.set_quota("alice", {F.CORES: 3})
    todo = iter(saved)
    wins, errors = race(10, lambda: resume(store, next(todo)))
    assert wins == 3
    assert all(isinstance(e, Forbidden) for e in errors), errors


def test_the_quota_goes_with_its_user(store: Store) -> None:
    store.set_quota("bob", {F.CORES: 2})
    store.delete_user("bob")
    store.create_user("bob", Role.USER)
    assert store.get_quota("bob").limits == NO_LIMITS
