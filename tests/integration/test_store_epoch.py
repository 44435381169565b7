"""The store's epoch (migration 0017) on every store: every write of an instance moves
it on, nothing else does; a snapshot carries it, and restoring one (an older backup)
sets it back to the snapshot's, whatever the restore's own inserts did."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tashi.domain.models import InstanceStatus
from tashi.domain.states import HostState
from tashi.store.base import Store
from tashi.store.transfer import from_document, to_document
from tests.integration.test_store_contract import STORES, new_instance, opened, store

__all__ = ["store"]  # the fixture, used by name


def test_instance_writes_move_the_epoch_on_and_nothing_else(store: Store) -> None:
    start = store.epoch()
    inst = new_instance(store, "web")
    created = store.epoch()
    assert created > start
    store.create_host("h1", cores=4, memory_mib=4096)
    store.set_host_state("h1", HostState.DRAINED)
    assert store.epoch() == created  # hosts are not instances
    store.set_instance_status(inst.id, replace(InstanceStatus(), message="seen"))
    reported = store.epoch()
    assert reported > created
    store.delete_instance(inst.id, generation=store.get_instance(inst.id).generation)
    assert store.epoch() > reported


def test_a_restored_snapshot_brings_its_epoch_back(store: Store,
                                                   request: pytest.FixtureRequest) -> None:
    for name in ("a", "b", "c"):
        new_instance(store, name)
    snap = store.snapshot()
    assert snap.epoch == store.epoch() > 0
    new_instance(store, "later")  # after the backup
    assert store.epoch() > snap.epoch
    kind = str(request.node.callspec.params["store"])
    with opened(STORES[kind](request, "restored")) as restored:
        restored.restore(from_document(to_document(snap), source="the backup"))
        assert restored.epoch() == snap.epoch  # not the three inserts', not 0
        assert [i.name for i in restored.list_instances()] == ["a", "b", "c"]
