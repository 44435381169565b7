"""Concurrency: the contract's races on every store, and a storm of mixed requests on
PostgreSQL (what several manager replicas sharing one database look like)."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tashi.domain.errors import Conflict, NotFound
from tashi.domain.models import InstanceStatus, NewInstance
from tashi.domain.states import InstanceState
from tashi.store import open_store
from tashi.store.base import Store
from tests.integration.test_store_contract import (
    STORES,
    given_images,
    new_instance,
    opened,
    spec,
)

S = InstanceState
THREADS = 20


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        yield store


def race(n: int, action: Callable[[], object]) -> tuple[int, list[BaseException]]:
    """Run ``action`` in ``n`` threads released at once: (how many succeeded, errors)."""
    barrier = threading.Barrier(n)

    def one() -> BaseException | None:
        barrier.wait()
        try:
            action()
        except Exception as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: one(), range(n)))
    errors = [r for r in results if r is not None]
    return n - len(errors), errors


# --- concurrency -------------------------------------------------------------------------
def test_concurrent_creates_one_wins(store: Store) -> None:
    wins, errors = race(THREADS, lambda: new_instance(store, "same"))
    assert wins == 1
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert len(store.list_instances(name="same")) == 1


def test_concurrent_updates_one_wins(store: Store) -> None:
    inst = new_instance(store)
    wins, errors = race(
        THREADS, lambda: store.update_instance(inst.id, generation=1, spec=spec(host="n1"))
    )
    assert wins == 1
    assert all(isinstance(e, Conflict) for e in errors), errors
    assert store.get_instance(inst.id).generation == 2


def test_concurrent_mixed_calls(store: Store) -> None:
    """Reads and writes of every kind from many threads: none fails."""
    store.create_host("node1")
    inst = new_instance(store)
    counter = iter(range(1000))

    def work() -> None:
        n = next(counter)
        store.add_event(f"event {n}", instance_id=inst.id)
        store.set_instance_status(inst.id, InstanceStatus("running", f"{n}"))
        store.record_heartbeat("node1", cores=1, memory_mib=1, agent_version="x",
                               at=datetime.now(UTC))
        store.put_setting("k", str(n))
        store.list_instances(owner="alice")
        store.get_console(inst.id)

    wins, errors = race(THREADS, work)
    assert (wins, errors) == (THREADS, [])
    assert len(store.list_events(instance_id=inst.id)) == THREADS


# --- 200 mixed requests on PostgreSQL ----------------------------------------------------
REQUESTS = 200
SLOTS = [(owner, f"vm{i}") for owner in ("alice", "bob") for i in range(6)]


@dataclass
class Ledger:
    """What the requests did, as they saw it: the truth the store must agree with."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: dict[tuple[str, str], int] = field(default_factory=dict)  # slot -> latest id
    created: set[int] = field(default_factory=set)
    deleted: set[int] = field(default_factory=set)
    writes: Counter[int] = field(default_factory=Counter)  # successful spec/state writes
    outcomes: Counter[str] = field(default_factory=Counter)


def one_request(store: Store, ledger: Ledger, n: int) -> None:
    rng = random.Random(n)
    slot = rng.choice(SLOTS)
    kind = rng.choice(["create", "create", "update", "update", "update", "status", "delete",
                       "list"])
    try:
        _act(store, ledger, kind, slot, n)
    except (Conflict, NotFound) as exc:
        with ledger.lock:
            ledger.outcomes[f"{kind}: {type(exc).__name__}"] += 1
    else:
        with ledger.lock:
            ledger.outcomes[f"{kind}: ok"] += 1


def _act(store: Store, ledger: Ledger, kind: str, slot: tuple[str, str], n: int) -> None:
    if kind == "create":
        inst = store.create_instance(*given_images(
            store, NewInstance(name=slot[1], owner=slot[0], spec=spec())))
        with ledger.lock:
            ledger.ids[slot] = inst.id
            ledger.created.add(inst.id)
        return
    if kind == "list":
        listed = store.list_instances(owner=slot[0])
        assert len({i.name for i in listed}) == len(listed)
        return
    with ledger.lock:
        instance_id = ledger.ids.get(slot, 10**9)  # not created yet: NotFound
    current = store.get_instance(instance_id)
    if kind == "status":
        store.set_instance_status(instance_id, InstanceStatus("running", str(n),
                                                              datetime.now(UTC)))
    elif kind == "delete":
        store.delete_instance(instance_id, generation=current.generation)
        with ledger.lock:
            ledger.deleted.add(instance_id)
    else:
        store.update_instance(instance_id, generation=current.generation,
                              spec=spec(cores=1 + n % 4))
        with ledger.lock:
            ledger.writes[instance_id] += 1


def test_200_mixed_requests_on_postgresql(postgres_url: str) -> None:
    store = open_store(postgres_url)
    ledger = Ledger()
    try:
        for n, slot in enumerate(SLOTS):  # every slot starts taken: all requests have a target
            _act(store, ledger, "create", slot, n)
        with ThreadPoolExecutor(max_workers=24) as pool:
            list(pool.map(lambda n: one_request(store, ledger, n), range(REQUESTS)))
        final = store.list_instances()
    finally:
        store.close()
    assert sum(ledger.outcomes.values()) == REQUESTS  # nothing failed in another way
    assert {i.id for i in final} == ledger.created - ledger.deleted  # none lost, no ghosts
    assert len({(i.owner, i.name) for i in final}) == len(final)
    for inst in final:
        assert inst.generation == 1 + ledger.writes[inst.id], inst
    for kind in ("update", "status", "delete", "list"):  # the storm did not just collide
        assert ledger.outcomes[f"{kind}: ok"] > 0, ledger.outcomes
