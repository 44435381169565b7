"""The store contract (``tashi.store.base``), run against every store implementation.

Add an implementation to :data:`STORES`; every test here (and the contract tests of
``test_store_snapshot.py`` and ``test_users_store.py``: passwords, tokens, deleting
users) then runs against it. PostgreSQL runs in a throwaway
cluster (the ``postgres`` fixture of ``conftest.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tashi.domain.capabilities import Ability, HostCapabilities, HypervisorFacts
from tashi.domain.claims import ClaimRole
from tashi.domain.errors import Conflict, InvalidInput, NotFound
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.models import (
    DiskSpec,
    ImageFormat,
    Instance,
    InstanceSpec,
    InstanceStatus,
    NetworkKind,
    NewInstance,
    NicSpec,
    Principal,
)
from tashi.domain.resources import Resources
from tashi.domain.states import HostState, InstanceState, Power, Role
from tashi.store import open_store
from tashi.store.base import NewImage, Store
from tashi.store.binding import Binding, HostUsage

S = InstanceState


def sqlite_url(request: pytest.FixtureRequest, name: str) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"sqlite:///{tmp_path / name / 'tashi.db'}"


def postgresql_url(request: pytest.FixtureRequest, name: str) -> str:
    return str(request.getfixturevalue("postgres").new_database())


def pickle_url(request: pytest.FixtureRequest, name: str) -> str:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return f"pickle://{tmp_path / name / 'state.pickle'}"


#: Every store implementation the contract runs against, by test id: the URL of a
#: new, empty store (``name`` tells apart two stores of one test).
STORES: dict[str, Callable[[pytest.FixtureRequest, str], str]] = {
    "sqlite": sqlite_url, "postgresql": postgresql_url, "pickle": pickle_url,
}


@contextlib.contextmanager
def opened(url: str) -> Iterator[Store]:
    store = open_store(url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        yield store


def timezone_plus(hours: int) -> timezone:
    return timezone(timedelta(hours=hours))


def is_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


def spec(cores: int = 1, memory_mib: int = 256, host: str | None = None) -> InstanceSpec:
    return InstanceSpec(
        cores=cores, memory_mib=memory_mib,
        disks=(DiskSpec("debian-12.qcow2"), DiskSpec("data.raw")),
        nics=(NicSpec("default", "52:54:00:12:34:56"),),
        host=host, shutdown_timeout_s=30,
    )


def given_images(store: Store, *news: NewInstance) -> list[NewInstance]:
    """``news``, once the images their disks use exist (made if missing): a store
    creates no instance on an unknown image."""
    for new in news:
        for disk in new.spec.disks:
            with contextlib.suppress(Conflict):
                store.create_image(NewImage(disk.image, "alice", ImageFormat.RAW, 1, 1))
    return list(news)


def exit_instance(store: Store, inst: Instance) -> Instance:
    """``inst`` once it ran on node1 and ended there (Exited)."""
    store.update_instance(inst.id, generation=inst.generation,
                          spec=replace(inst.spec, host="node1"))
    ended = store.set_instance_status(inst.id, InstanceStatus("stopped", ran=True, ended=True))
    assert ended.state is S.EXITED
    return ended


def new_instance(store: Store, name: str = "web", owner: str = "alice") -> Instance:
    return store.create_instance(*given_images(
        store, NewInstance(name=name, owner=owner, spec=spec())))


# --- users, tokens, settings ------------------------------------------------------------
def test_users(store: Store) -> None:
    alice = store.create_user("alice", Role.ADMIN)
    store.create_user("bob", Role.USER)
    assert alice.is_admin
    assert is_utc(alice.created_at)
    assert store.get_user("alice") == alice
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    with pytest.raises(Conflict):
        store.create_user("alice", Role.USER)
    with pytest.raises(NotFound, match="user 'carol' not found"):
        store.get_user("carol")


def test_tokens(store: Store) -> None:
    now = datetime.now(UTC)
    alice = store.create_user("alice", Role.USER)
    record = store.add_token("h-alice", "laptop", user="alice", expires_at=now + timedelta(1))
    assert (record.name, record.user, record.host) == ("laptop", "alice", None)
    assert is_utc(record.created_at)
    assert record.expires_at == now + timedelta(1)
    store.add_token("h-forever", "ci", user="alice")
    store.add_token("h-old", "old", user="alice", expires_at=now)
    store.add_token("h-node1", "agent", host="node1")

    assert store.principal_for_token("h-alice", now) == Principal(user=alice)
    assert store.principal_for_token("h-forever", now + timedelta(days=3650)) is not None
    assert store.principal_for_token("h-alice", now + timedelta(days=2)) is None  # expired
    assert store.principal_for_token("h-old", now) is None  # expires_at <= now
    assert store.principal_for_token("h-unknown", now) is None
    assert store.principal_for_token("h-node1", now) == Principal(host="node1")


def test_token_rules(store: Store) -> None:
    store.create_user("alice", Role.USER)
    store.add_token("h1", "one", user="alice")
    with pytest.raises(Conflict):
        store.add_token("h1", "again", host="node1")
    with pytest.raises(InvalidInput):
        store.add_token("h2", "both", user="alice", host="node1")
    with pytest.raises(InvalidInput):
        store.add_token("h3", "neither")
    with pytest.raises(NotFound, match="user 'bob' not found"):
        store.add_token("h4", "ghost", user="bob")
    assert store.principal_for_token("h4", datetime.now(UTC)) is None


def test_settings(store: Store) -> None:
    assert store.get_setting("cluster.join_token_hash") is None
    store.put_setting("cluster.join_token_hash", "one")
    store.put_setting("cluster.join_token_hash", "two")
    store.put_setting("other", "x")
    assert store.get_setting("cluster.join_token_hash") == "two"
    assert store.get_setting("other") == "x"


# --- hosts, images, networks -------------------------------------------------------------
def test_hosts(store: Store) -> None:
    host = store.create_host("node1", cores=8, memory_mib=16384)
    store.create_host("node2")
    assert (host.state, host.cores, host.memory_mib) == (HostState.NORMAL, 8, 16384)
    assert host.last_heartbeat is None
    assert host.agent_version == ""
    assert is_utc(host.registered_at)
    assert store.get_host("node1") == host
    assert [h.name for h in store.list_hosts()] == ["node1", "node2"]
    with pytest.raises(Conflict):
        store.create_host("node1")
    with pytest.raises(NotFound, match="host 'node9' not found"):
        store.get_host("node9")


def test_heartbeat_and_host_state(store: Store) -> None:
    store.create_host("node1")
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone_plus(2))
    beat = store.record_heartbeat("node1", cores=4, memory_mib=8192, agent_version="0.1", at=at)
    assert (beat.cores, beat.memory_mib, beat.agent_version) == (4, 8192, "0.1")
    assert beat.last_heartbeat == at
    assert is_utc(beat.last_heartbeat)
    assert store.get_host("node1") == beat
    drained = store.set_host_state("node1", HostState.DRAINED)
    assert drained.state is HostState.DRAINED
    assert drained.cores == 4
    assert store.get_host("node1").state is HostState.DRAINED
    with pytest.raises(NotFound):
        store.record_heartbeat("node9", cores=1, memory_mib=1, agent_version="0.1", at=at)
    with pytest.raises(NotFound):
        store.set_host_state("node9", HostState.NORMAL)


CAPABILITIES = HostCapabilities(
    HypervisorFacts("qemu", "7.2.22", "tcg", "max", "AMD EPYC", frozenset({"pc"}),
                    frozenset({"virtio", "e1000"}), frozenset({"user"})),
    frozenset({Ability.CONSOLE}))


def test_heartbeat_capabilities(store: Store) -> None:
    assert store.host_capabilities() == []
    for name in ("node1", "node2", "node3"):
        store.create_host(name)
    at = datetime.now(UTC)
    assert store.host_capabilities() == [None]
    for name in ("node1", "node2"):
        beat = store.record_heartbeat(name, cores=4, memory_mib=8192, agent_version="0.1",
                                      at=at, capabilities=CAPABILITIES)
        assert beat.capabilities == CAPABILITIES
    assert store.get_host("node1").capabilities == CAPABILITIES
    assert sorted(store.host_capabilities(), key=lambda c: c is None) == [CAPABILITIES, None]
    older = store.record_heartbeat("node1", cores=4, memory_mib=8192, agent_version="0.0.9",
                                   at=at)  # an older agent reports none: none are kept
    assert older.capabilities is None


def test_images(store: Store) -> None:
    new = NewImage("debian-12.qcow2", "alice", ImageFormat.QCOW2, 300 << 20, 2 << 30)
    image = store.create_image(new)
    assert (image.name, image.owner, image.format) == ("debian-12.qcow2", "alice", "qcow2")
    assert (image.size_bytes, image.virtual_size_bytes) == (300 << 20, 2 << 30)
    assert is_utc(image.created_at)
    assert store.get_image("debian-12.qcow2") == image
    with pytest.raises(Conflict):
        store.create_image(new)
    store.create_image(NewImage("scratch.raw", "bob", ImageFormat.RAW, 1, 1))
    assert [i.name for i in store.list_images()] == ["debian-12.qcow2", "scratch.raw"]
    store.delete_image("debian-12.qcow2")
    with pytest.raises(NotFound, match=r"image 'debian-12\.qcow2' not found"):
        store.get_image("debian-12.qcow2")
    with pytest.raises(NotFound):
        store.delete_image("debian-12.qcow2")


def test_networks(store: Store) -> None:
    net = store.create_network("default", NetworkKind.USER)
    assert net.kind is NetworkKind.USER
    assert is_utc(net.created_at)
    assert store.get_network("default") == net
    assert store.list_networks() == [net]
    with pytest.raises(Conflict):
        store.create_network("default", NetworkKind.USER)
    with pytest.raises(NotFound, match="network 'lan' not found"):
        store.get_network("lan")


def test_a_network_in_use_is_not_deleted(store: Store) -> None:
    store.create_network("default", NetworkKind.USER)
    lab = store.create_network("lab", NetworkKind.USER)
    base = spec()
    used = store.create_instance(*given_images(store, NewInstance("web", "alice", replace(
        base, nics=(NicSpec("lab", "52:54:00:00:00:09"),)))))
    with pytest.raises(Conflict, match=f"network 'lab' is used by instance {used.id}"):
        store.delete_network("lab")
    assert store.get_network("lab") == lab  # nothing changed
    store.delete_instance(used.id, generation=1)
    store.delete_network("lab")
    assert [n.name for n in store.list_networks()] == ["default"]
    with pytest.raises(NotFound, match="network 'lab' not found"):
        store.delete_network("lab")


# --- instances ---------------------------------------------------------------------------
def test_create_instance(store: Store) -> None:
    inst = new_instance(store)
    assert (inst.name, inst.owner, inst.state, inst.generation) == ("web", "alice", S.PENDING, 1)
    assert inst.spec == spec()
    assert inst.status == InstanceStatus()
    assert is_utc(inst.created_at)
    assert is_utc(inst.updated_at)
    assert store.get_instance(inst.id) == inst
    with pytest.raises(Conflict, match="web"):
        new_instance(store)
    other = new_instance(store, owner="bob")  # names are unique per owner only
    assert other.id != inst.id
    with pytest.raises(NotFound, match="instance 999 not found"):
        store.get_instance(999)


def on_disks(name: str, *disks: DiskSpec, owner: str = "alice") -> NewInstance:
    return NewInstance(name=name, owner=owner, spec=replace(spec(), disks=disks))


def test_image_use_rules(store: Store) -> None:
    """A persistent disk needs its image to itself; overlays share an image nobody writes."""
    base, solo = DiskSpec("debian-12.qcow2"), DiskSpec("solo.raw", persistent=True)
    given_images(store, on_disks("all", base, solo, DiskSpec("second.raw"),
                                 DiskSpec("fresh.raw")))
    a = store.create_instance(on_disks("a", base))
    store.create_instance(on_disks("b", base, owner="bob"))  # overlays share
    with pytest.raises(Conflict, match=rf"image .debian-12\.qcow2. is in use by instance "
                                       rf"{a.id}: a persistent disk"):
        store.create_instance(on_disks("w", DiskSpec("debian-12.qcow2", persistent=True)))
    writer = store.create_instance(on_disks("writer", solo))
    assert writer.spec.disks == (solo,)
    with pytest.raises(Conflict, match=rf"'solo\.raw' is being written by instance {writer.id}"):
        store.create_instance(on_disks("reader", DiskSpec("solo.raw")))
    with pytest.raises(Conflict, match=r"solo\.raw"):
        store.create_instance(on_disks("writer2", solo, owner="bob"))
    # a second disk counts as much as the first
    store.create_instance(on_disks("two", base, DiskSpec("second.raw", persistent=True)))
    with pytest.raises(Conflict, match=r"'second\.raw' is being written"):
        store.create_instance(on_disks("r2", DiskSpec("second.raw")))
    # one batch: a writer and a reader of one image, so neither is created
    with pytest.raises(Conflict, match=r"fresh\.raw"):
        store.create_instances([on_disks("x1", DiskSpec("fresh.raw", persistent=True)),
                                on_disks("x2", DiskSpec("fresh.raw"))])
    assert not store.list_instances(name="x1")
    # an Exited writer holds nothing
    exit_instance(store, writer)
    reader = store.create_instance(on_disks("reader", DiskSpec("solo.raw")))
    assert reader.spec.disks == (DiskSpec("solo.raw"),)


def test_images_and_their_instances_stay_together(store: Store) -> None:
    """No instance on an unknown image; no image deleted under an instance (Exited
    too: it may still be looked at, and its image's format is read from the record)."""
    with pytest.raises(InvalidInput, match=r"unknown image 'nowhere\.raw'"):
        store.create_instance(on_disks("lost", DiskSpec("nowhere.raw")))
    assert store.list_instances() == []
    inst = new_instance(store)
    exit_instance(store, inst)
    with pytest.raises(Conflict, match=rf"image 'data\.raw' is used by instance {inst.id}"):
        store.delete_image("data.raw")
    assert store.get_image("data.raw").name == "data.raw"
    store.delete_instance(inst.id, generation=2)
    store.delete_image("data.raw")
    with pytest.raises(NotFound):
        store.get_image("data.raw")


def test_update_instance_checks_generation(store: Store) -> None:
    inst = new_instance(store)
    placed = spec(host="node1")
    moved = store.update_instance(inst.id, generation=1, spec=placed)
    assert (moved.state, moved.spec, moved.generation) == (S.ACTIVATING, placed, 2)
    assert store.get_instance(inst.id) == moved
    with pytest.raises(Conflict, match=f"instance {inst.id}"):
        store.update_instance(inst.id, generation=1, spec=spec(cores=9))
    assert store.get_instance(inst.id) == moved  # a stale write changes nothing
    with pytest.raises(NotFound, match="instance 999 not found"):
        store.update_instance(999, generation=1, spec=spec())


def test_update_instance_with_status(store: Store) -> None:
    inst = new_instance(store)
    status = InstanceStatus("running", "started", datetime.now(UTC), 1, ran=True)
    done = store.update_instance(inst.id, generation=1, spec=spec(host="node1"), status=status)
    assert (done.state, done.status, done.generation) == (S.RUNNING, status, 2)


def test_state_is_derived_in_every_write(store: Store) -> None:
    """Status writes move the derived state without a generation bump; a silent host
    orphans what should run there, keeping its intent, and its return ends that."""
    store.create_host("node1")
    inst = new_instance(store)
    bound = store.update_instance(inst.id, generation=1, spec=spec(host="node1"))
    assert bound.state is S.ACTIVATING
    running = store.set_instance_status(inst.id, InstanceStatus("running", ran=True))
    assert (running.state, running.generation) == (S.RUNNING, 2)
    ((before, after),) = store.set_host_silent("node1", True)
    assert (before.state, after.state) == (S.RUNNING, S.ORPHANED)
    assert store.get_host("node1").silent
    stop = store.update_instance(inst.id, generation=2, spec=replace(
        bound.spec, power=Power.STOPPED))
    assert stop.state is S.SHUTTING_DOWN  # the intent shows, the host still silent
    assert store.set_host_silent("node1", True) == []
    assert store.list_instances(states=[S.ORPHANED]) == []
    store.update_instance(inst.id, generation=3, spec=bound.spec)
    assert store.get_instance(inst.id).state is S.ORPHANED
    ((_, back),) = store.set_host_silent("node1", False)
    assert back.state is S.RUNNING
    assert not store.get_host("node1").silent


def test_status_write_does_not_bump_generation(store: Store) -> None:
    inst = new_instance(store)
    at = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=timezone_plus(-5))
    status = InstanceStatus("stopped", "VM process exited", at, 1)
    seen = store.set_instance_status(inst.id, status)
    assert (seen.status, seen.generation, seen.state) == (status, 1, S.PENDING)
    assert is_utc(seen.status.observed_at)
    assert store.get_instance(inst.id).status == status
    with pytest.raises(NotFound):
        store.set_instance_status(999, status)


def test_list_instances_filters(store: Store) -> None:
    a = new_instance(store, "a", "alice")
    b = new_instance(store, "b", "alice")
    c = new_instance(store, "a", "bob")
    b = store.update_instance(b.id, generation=1, spec=spec(host="node1"))
    c = store.set_instance_status(c.id, InstanceStatus(held=True))
    assert (b.state, c.state) == (S.ACTIVATING, S.HELD)
    assert store.list_instances() == [a, b, c]
    assert store.list_instances(owner="alice") == [a, b]
    assert store.list_instances(host="node1") == [b]
    assert store.list_instances(states=[S.PENDING, S.HELD]) == [a, c]
    assert store.list_instances(states=iter([S.ACTIVATING])) == [b]
    assert store.list_instances(states=[]) == []
    assert store.list_instances(name="a") == [a, c]
    assert store.list_instances(owner="bob", name="a", states={S.HELD}) == [c]
    assert store.list_instances(owner="carol") == []


def test_delete_instance(store: Store) -> None:
    inst = new_instance(store)
    store.put_console(inst.id, "login: ")
    with pytest.raises(Conflict):
        store.delete_instance(inst.id, generation=7)
    assert store.get_console(inst.id) == "login: "  # nothing changed
    store.delete_instance(inst.id, generation=1)
    with pytest.raises(NotFound):
        store.get_instance(inst.id)
    with pytest.raises(NotFound):
        store.get_console(inst.id)
    with pytest.raises(NotFound):
        store.delete_instance(inst.id, generation=1)
    again = new_instance(store)  # the name is free again; the id is never reused
    assert again.id > inst.id
    assert store.get_console(again.id) == ""


def test_claims_follow_the_instance(store: Store) -> None:
    """An instance claims its vector on its host while it holds resources there: bound,
    running, orphaned, moved, then ended or deleted; a host's usage is its claims."""
    for name in ("node1", "node2"):
        store.create_host(name, cores=8, memory_mib=8192)
    web, db = new_instance(store, "web"), new_instance(store, "db", "bob")
    assert store.list_claims() == []
    (placed, _) = store.bind_instances([Binding(web.id, "node1", 1), Binding(db.id, "node1", 1)])
    assert placed.instance is not None
    claims = store.list_claims(host="node1")
    assert [(c.instance, c.owner, c.role, c.resources) for c in claims] == [
        ("web", "alice", ClaimRole.PRIMARY, Resources(1, 256)),
        ("db", "bob", ClaimRole.PRIMARY, Resources(1, 256))]
    assert all(is_utc(c.since) for c in claims)
    assert store.usage_by_host()["node1"] == HostUsage(Resources(2, 512), 2)
    store.set_instance_status(web.id, InstanceStatus("running", ran=True))
    store.set_host_silent("node1", True)  # Orphaned still holds its room
    assert store.list_claims(instance_id=web.id) == [claims[0]]  # unchanged, same since
    store.set_host_silent("node1", False)
    moved = store.update_instance(web.id, generation=2, spec=replace(
        placed.instance.spec, host="node2", cores=2))
    ((claim,),) = [store.list_claims(instance_id=web.id)]
    assert (claim.host, claim.resources) == ("node2", Resources(2, 256))
    assert store.list_claims(host="node2") == [claim]
    store.set_instance_status(moved.id, InstanceStatus("stopped", ran=True, ended=True))
    assert store.get_instance(web.id).state is S.EXITED
    assert store.list_claims(instance_id=web.id) == []
    store.delete_instance(db.id, generation=2)
    assert store.list_claims() == []
    assert store.usage_by_host() == {}


def test_consoles(store: Store) -> None:
    inst = new_instance(store)
    assert store.get_console(inst.id) == ""
    store.put_console(inst.id, "booting\n")
    store.put_console(inst.id, "login: ")
    assert store.get_console(inst.id) == "login: "
    assert store.get_instance(inst.id).generation == 1
    with pytest.raises(NotFound, match="instance 999 not found"):
        store.put_console(999, "x")


# --- events ------------------------------------------------------------------------------
def test_events_are_recent_and_oldest_first(store: Store) -> None:
    inst = new_instance(store)
    for i in range(5):
        store.add_event(f"e{i}", instance_id=inst.id if i % 2 == 0 else None, host="node1")
    store.add_event("other host", host="node2")
    event = store.add_event("last")
    assert event.message == "last"
    assert event.instance_id is None
    assert is_utc(event.at)

    assert [e.message for e in store.list_events(limit=3)] == ["e4", "other host", "last"]
    assert [e.message for e in store.list_events(instance_id=inst.id)] == ["e0", "e2", "e4"]
    assert [e.message for e in store.list_events(host="node1", limit=2)] == ["e3", "e4"]
    assert len(store.list_events()) == 7
    ids = [e.id for e in store.list_events()]
    assert ids == sorted(ids)


def test_events_outlive_their_instance(store: Store) -> None:
    inst = new_instance(store)
    store.add_event("created", instance_id=inst.id)
    store.delete_instance(inst.id, generation=1)
    store.add_event("deleted", instance_id=inst.id)
    assert [e.message for e in store.list_events(instance_id=inst.id)] == ["created", "deleted"]


def test_event_facts_are_kept_and_filtered(store: Store) -> None:
    facts = EventFacts(EventKind.INSTANCE_STATE, "user alice", "alice", S.RUNNING,
                       S.SHUTTING_DOWN, Resources(2, 512, 10))
    made = store.add_event("Running -> ShuttingDown", instance_id=7, host="h9", facts=facts)
    store.add_event("a note", host="h9")
    (read,) = store.list_events(instance_id=7)
    assert read == made
    assert (read.kind, read.actor, read.user, read.old_state, read.new_state,
            read.resources) == (facts.kind, facts.actor, facts.user, facts.old_state,
                                facts.new_state, facts.resources)
    assert [e.message for e in store.list_events(user="alice")] == ["Running -> ShuttingDown"]
    assert [e.message for e in store.list_events(kind=EventKind.NOTE)] == ["a note"]
    assert [e.message for e in store.list_events(after_id=made.id)] == ["a note"]
    assert store.list_events(since=made.at + timedelta(days=1)) == []
    restored = store.snapshot().events
    assert made in restored


def test_count_instances_by_state(store: Store) -> None:
    assert store.count_instances() == {}
    store.create_host("node1")
    web, _, _ = (new_instance(store, name) for name in ("web", "db", "api"))
    exit_instance(store, web)
    counted = store.count_instances()
    assert counted == {S.PENDING: 2, S.EXITED: 1}
    listed = [i.state for i in store.list_instances()]
    assert counted == {state: listed.count(state) for state in set(listed)}
