"""The contract of ``Store.snapshot`` and ``Store.restore``, on every store."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from tashi.domain.errors import Conflict
from tashi.domain.models import ImageFormat, InstanceStatus, NetworkKind
from tashi.domain.resources import Resources
from tashi.domain.states import HostState, InstanceState, Role
from tashi.store.base import NewImage, Snapshot, Store
from tests.integration.test_store_contract import (
    CAPABILITIES,
    STORES,
    new_instance,
    opened,
    spec,
)

S = InstanceState


@pytest.fixture(params=sorted(STORES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def populate(store: Store) -> None:
    """A bit of everything, including gaps: a deleted image, instance and their events."""
    now = datetime.now(UTC)
    store.create_user("alice", Role.ADMIN)
    store.create_user("bob", Role.USER)
    store.add_token("hash-alice", "laptop", user="alice", expires_at=now + timedelta(days=1))
    store.add_token("hash-node1", "agent-node1", host="node1")
    store.put_setting("cluster.join_token_hash", "hash-join")
    store.create_host("node1", cores=8, memory_mib=16384)
    store.record_heartbeat("node1", cores=8, memory_mib=16000, agent_version="0.1", at=now,
                           capabilities=CAPABILITIES)
    store.create_host("node2")
    store.set_host_state("node2", HostState.DRAINED)
    store.create_image(NewImage("debian-12.qcow2", "alice", ImageFormat.QCOW2, 300, 2000))
    store.create_image(NewImage("gone.raw", "bob", ImageFormat.RAW, 1, 1))
    store.delete_image("gone.raw")
    store.create_network("default", NetworkKind.USER)
    web = new_instance(store, "web", "alice")
    store.update_instance(web.id, generation=1, spec=spec(host="node1"),
                          status=InstanceStatus("", "placed", now, 1))
    store.set_instance_status(web.id, InstanceStatus("running", "up", now, 2))
    store.put_console(web.id, "login: ")
    store.add_event("placed on node1", instance_id=web.id, host="node1")
    new_instance(store, "db", "bob")
    doomed = new_instance(store, "doomed", "bob")  # the newest id: deleted, never reused
    store.add_event("doomed", instance_id=doomed.id)
    store.delete_instance(doomed.id, generation=1)
    store.add_event("deleted doomed", instance_id=doomed.id)


def test_snapshot_holds_everything(request: pytest.FixtureRequest, kind: str) -> None:
    with opened(STORES[kind](request, "a")) as store:
        populate(store)
        snap = store.snapshot()
    assert [u.name for u in snap.users] == ["alice", "bob"]
    assert [(t.token_hash, t.user, t.host) for t in snap.tokens] == [
        ("hash-alice", "alice", None), ("hash-node1", None, "node1")]
    assert snap.settings == (("cluster.join_token_hash", "hash-join"),)
    assert [(h.name, h.state) for h in snap.hosts] == [("node1", HostState.NORMAL),
                                                       ("node2", HostState.DRAINED)]
    assert [h.capabilities for h in snap.hosts] == [CAPABILITIES, None]
    assert [i.name for i in snap.images] == ["debian-12.qcow2", "data.raw"]
    assert [(i.name, i.generation) for i in snap.instances] == [("web", 2), ("db", 1)]
    web = snap.instances[0]
    assert (web.state, web.spec.host, web.status.observed) == (S.ACTIVATING, "node1", "running")
    assert snap.consoles == ((web.id, "login: "),)
    assert [e.message for e in snap.events] == ["placed on node1", "doomed", "deleted doomed"]
    doomed = snap.events[-1].instance_id
    assert doomed is not None
    assert snap.next_instance_id == doomed + 1  # the deleted instance's id stays taken
    assert snap.next_event_id == snap.events[-1].id + 1


def test_restore_keeps_everything(request: pytest.FixtureRequest, kind: str) -> None:
    with opened(STORES[kind](request, "a")) as source:
        populate(source)
        snap = source.snapshot()
        source_usage = source.usage_by_host()
    with opened(STORES[kind](request, "b")) as target:
        target.restore(snap)
        assert target.snapshot() == snap
        web = target.list_instances(name="web")[0]
        assert target.get_console(web.id) == "login: "
        assert target.principal_for_token("hash-node1", datetime.now(UTC)) is not None
        assert new_instance(target, "next").id == snap.next_instance_id  # ids stay taken
        assert target.add_event("next").id == snap.next_event_id
        assert target.create_user("carol", Role.USER).id > snap.users[-1].id
        assert [(c.instance, c.host, c.resources) for c in target.list_claims()] == [
            ("web", "node1", Resources(1, 256))]  # claims are derived again
        assert target.usage_by_host() == source_usage


def test_restore_refuses_a_store_that_is_not_empty(request: pytest.FixtureRequest,
                                                   kind: str) -> None:
    with opened(STORES[kind](request, "a")) as store:
        populate(store)
        snap = store.snapshot()
        with pytest.raises(Conflict, match="not empty"):
            store.restore(snap)
        assert store.snapshot() == snap


def test_restore_refuses_a_contradiction(request: pytest.FixtureRequest, kind: str) -> None:
    with opened(STORES[kind](request, "a")) as store:
        populate(store)
        snap = store.snapshot()
    twice = dataclasses.replace(snap, users=(*snap.users, snap.users[0]))
    with opened(STORES[kind](request, "b")) as target:
        with pytest.raises(Conflict):
            target.restore(twice)
        assert target.snapshot() == empty_snapshot(target)
        target.restore(snap)  # nothing was half done
        assert target.snapshot() == snap


def empty_snapshot(store: Store) -> Snapshot:
    snap = store.snapshot()
    assert not any((snap.users, snap.tokens, snap.settings, snap.hosts, snap.images,
                    snap.networks, snap.instances, snap.consoles, snap.events))
    return snap
