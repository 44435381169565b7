"""Idempotency keys of creates on every store: the key's create made once, its
instances returned again (those still there), the key with another request refused."""

from __future__ import annotations

import pytest

from tashi.domain.errors import Conflict
from tashi.domain.models import NewInstance
from tashi.store.base import Idempotency, Store
from tests.integration.test_store_contract import given_images, spec, store

__all__ = ["store"]  # the fixture, used by name


def test_a_key_makes_its_create_once(store: Store) -> None:
    news = given_images(store, NewInstance("a", "alice", spec()), NewInstance("b", "alice",
                                                                              spec()))
    asked = Idempotency("alice", "k1", "f" * 64)
    made = store.create_instances(news, idempotency=asked)
    again = store.create_instances(news, idempotency=asked)
    assert [i.id for i in again] == [i.id for i in made]
    assert [i.name for i in store.list_instances()] == ["a", "b"]
    with pytest.raises(Conflict, match="was used for another request"):
        store.create_instances(news, idempotency=Idempotency("alice", "k1", "0" * 64))
    other_owner = Idempotency("bob", "k1", "f" * 64)  # keys are per owner
    with pytest.raises(Conflict, match="already exists"):  # so this one is a new create
        store.create_instances(news, idempotency=other_owner)
    first = made[0]
    store.delete_instance(first.id, generation=first.generation)
    assert [i.id for i in store.create_instances(news, idempotency=asked)] == [made[1].id]
