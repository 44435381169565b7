"""Leases and fenced writes (``tashi.store.base``, :mod:`tashi.store.fencing`), on every
store of the contract (sqlite, pickle, PostgreSQL)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tashi.domain.errors import InvalidInput, LeaseLost
from tashi.domain.leases import Fence
from tashi.store.base import Store
from tashi.store.fencing import fenced
from tashi.store.sql import SqlStore
from tests.integration.test_store_contract import store

__all__ = ["store"]  # the fixture, used by name
L = "leader"


def test_one_holder_at_a_time_with_a_new_token_each_time(store: Store) -> None:
    assert store.get_lease(L) is None
    a = store.acquire_lease(L, "a", 30)
    assert a is not None
    assert (a.holder, a.token) == ("a", 1)
    assert store.acquire_lease(L, "b", 30) is None
    again = store.acquire_lease(L, "a", 30)  # its own live lease: extended, same token
    assert again is not None
    assert again.token == 1
    assert again.expires_at >= a.expires_at
    assert store.get_lease(L) == again
    renewed = store.renew_lease(L, "a", 1, 30)
    assert renewed is not None
    assert renewed.token == 1
    assert store.renew_lease(L, "a", 2, 30) is None  # a token it never had
    assert store.renew_lease(L, "b", 1, 30) is None
    assert not store.release_lease(L, "b", 1)
    assert store.release_lease(L, "a", 1)
    assert store.renew_lease(L, "a", 1, 30) is None  # released: renewing is over
    b = store.acquire_lease(L, "b", 30)
    assert b is not None
    assert (b.holder, b.token) == ("b", 2)
    a2 = store.acquire_lease("another", "a", 30)  # leases are independent
    assert a2 is not None
    assert a2.token == 1


def test_an_expired_lease_goes_to_the_next_with_the_next_token(store: Store) -> None:
    assert store.acquire_lease(L, "a", 0.2) is not None
    assert store.acquire_lease(L, "b", 30) is None
    time.sleep(0.3)  # the database's clock, not ours: no fake clock reaches it
    assert store.renew_lease(L, "a", 1, 30) is None
    b = store.acquire_lease(L, "b", 30)
    assert b is not None
    assert (b.holder, b.token) == ("b", 2)
    assert store.acquire_lease(L, "a", 30) is None


def test_of_replicas_acquiring_at_once_one_wins(store: Store) -> None:
    start = threading.Barrier(8)

    def acquire(i: int) -> bool:
        start.wait()
        return store.acquire_lease(L, f"r{i}", 30) is not None

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(acquire, range(8)))
    assert won.count(True) == 1
    lease = store.get_lease(L)
    assert lease is not None
    assert lease.token == 1
    assert lease.holder == f"r{won.index(True)}"


def test_bad_leases_are_refused(store: Store) -> None:
    for holder, duration in (("", 10.0), ("a", 0.0), ("a", -1.0), ("a", 7200.0)):
        with pytest.raises(InvalidInput):
            store.acquire_lease(L, holder, duration)


def test_fenced_writes_fail_once_the_lease_is_taken_over(store: Store) -> None:
    a = store.acquire_lease(L, "a", 0.3)
    assert a is not None
    with fenced(Fence(L, "a", a.token)):
        store.create_host("h1")  # still the holder: written
        assert [h.name for h in store.list_hosts()] == ["h1"]
    time.sleep(0.4)
    with fenced(Fence(L, "a", a.token)), pytest.raises(LeaseLost, match="expired by a"):
        store.create_host("h2")  # expired, even before anyone took it
    b = store.acquire_lease(L, "b", 30)
    assert b is not None
    assert b.token == 2
    with fenced(Fence(L, "a", a.token)):
        with pytest.raises(LeaseLost, match="held by b with token 2"):
            store.create_host("h2")
        with pytest.raises(LeaseLost):
            store.set_host_silent("h1", True, "fenced out")
        assert [h.name for h in store.list_hosts()] == ["h1"]  # reads are not fenced
    assert not store.get_host("h1").silent
    with fenced(Fence("nothing", "a", 1)), pytest.raises(LeaseLost, match="no such lease"):
        store.create_host("h3")
    store.create_host("h2")  # unfenced writes are not checked
    with fenced(Fence(L, "b", b.token)):
        store.create_host("h4")
    assert [h.name for h in store.list_hosts()] == ["h1", "h2", "h4"]


def test_a_takeover_waits_for_the_fenced_transaction_under_way(postgres_url: str) -> None:
    """PostgreSQL: the old holder's fenced transaction holds the lease row FOR SHARE, so
    the new holder's acquisition lands after it commits, never in the middle of it."""
    from tashi.store import open_store

    store = open_store(postgres_url)
    assert isinstance(store, SqlStore)
    try:
        a = store.acquire_lease(L, "a", 0.5)
        assert a is not None
        took: list[float] = []
        with fenced(Fence(L, "a", a.token)), store._write.begin():  # the fence checked
            time.sleep(0.6)  # meanwhile the lease expires
            taker = threading.Thread(target=lambda: took.append(
                time.monotonic() if store.acquire_lease(L, "b", 30) else 0.0))
            taker.start()
            time.sleep(0.3)
            assert not took  # waits on the row
            committed = time.monotonic()
        taker.join(10)
        assert took
        assert took[0] >= committed
        lease = store.get_lease(L)
        assert lease is not None
        assert (lease.holder, lease.token) == ("b", 2)
    finally:
        store.close()
