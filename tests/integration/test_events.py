"""Structured events: what happened, to which instance or host, by whom, with the
states and resources; users see only their own instances' events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tashi.domain.events import EventFacts, EventKind
from tests.integration.conftest import Rig
from tests.integration.test_cluster_lifecycle import vm


async def test_a_lifecycle_leaves_structured_events(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    alice = scheduled.client((await scheduled.admin.add_user("alice", "user")).token)
    inst = await alice.create_instance(vm("web", cores=2, memory_mib=256))
    await scheduled.wait_for(inst.id, "Running")
    await alice.shutdown_instance("web")
    await scheduled.wait_for(inst.id, "Exited")
    found = await alice.list_events(instance="web")
    kinds = [e.kind for e in found]
    assert kinds[:2] == [EventKind.INSTANCE_CREATED, EventKind.INSTANCE_PLACED]
    created, placed = found[0], found[1]
    assert (created.actor, created.user, created.new_state) == ("user alice", "alice",
                                                                 "Pending")
    assert (created.cores, created.memory_mib, created.disk_gib) == (2, 256, 0)
    assert (placed.actor, placed.host, placed.old_state, placed.new_state) == (
        "scheduler", "h1", "Pending", "Activating")
    states = [(e.old_state, e.new_state, e.actor) for e in found
              if e.kind == EventKind.INSTANCE_STATE]
    assert ("Activating", "Running", "agent of host h1") in states
    assert ("Running", "ShuttingDown", "user alice") in states
    assert ("ShuttingDown", "Exited", "agent of host h1") in states
    assert [e.kind for e in await alice.list_events(kind="instance.placed")] == [
        EventKind.INSTANCE_PLACED]


async def test_users_see_only_their_own_instances_events(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    alice = scheduled.client((await scheduled.admin.add_user("alice", "user")).token)
    bob = scheduled.client((await scheduled.admin.add_user("bob", "user")).token)
    await alice.create_instance(vm("a1"))
    await bob.create_instance(vm("b1"))
    assert {e.user for e in await alice.list_events()} == {"alice"}
    assert await alice.list_events(user="bob") == []
    assert await alice.list_events(host="h1", kind="host.registered") == []
    everyone = await scheduled.admin.list_events()
    assert {"alice", "bob"} <= {e.user for e in everyone}
    registered = await scheduled.admin.list_events(kind="host.registered")
    assert [(e.host, e.actor) for e in registered] == [("h1", "user admin")]


async def test_host_silence_and_return_are_events(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    await scheduled.stop_agent("h1")
    for _ in range(100):
        if await scheduled.admin.list_events(kind="host.silent"):
            break
        await asyncio.sleep(0.1)
    await scheduled.start_agent("h1")
    for _ in range(100):
        if await scheduled.admin.list_events(kind="host.back"):
            break
        await asyncio.sleep(0.1)
    (silent,) = await scheduled.admin.list_events(kind="host.silent", host="h1")
    (back,) = await scheduled.admin.list_events(kind="host.back", host="h1")
    assert silent.id < back.id
    assert "stopped heartbeating" in silent.message


async def test_since_after_and_limit(rig: Rig) -> None:
    store = rig.core.store
    for n in range(5):
        store.add_event(f"e{n}", host="hx", facts=EventFacts(EventKind.NOTE, "test"))
    every = await rig.admin.list_events(host="hx")
    assert [e.message for e in every] == [f"e{n}" for n in range(5)]
    newer = await rig.admin.list_events(host="hx", after=every[2].id)
    assert [e.message for e in newer] == ["e3", "e4"]
    assert [e.message for e in await rig.admin.list_events(host="hx", limit=2)] == ["e3", "e4"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await rig.admin.list_events(host="hx", since=later) == []


async def test_user_and_token_actions_are_events_without_secrets(rig: Rig) -> None:
    made = await rig.admin.add_user("carol", "user")
    carol = rig.client(made.token)
    minted = await carol.create_token("laptop", 60)
    await carol.revoke_token(minted.id)
    found = await carol.list_events()
    kinds = [e.kind for e in found]
    assert kinds == [EventKind.USER_ADDED, EventKind.TOKEN_CREATED, EventKind.TOKEN_REVOKED]
    assert found[0].actor == "user admin"
    assert (found[1].actor, found[2].actor) == ("user carol", "user carol")
    every = " ".join(e.model_dump_json() for e in await rig.admin.list_events())
    assert made.token not in every
    assert minted.token not in every
