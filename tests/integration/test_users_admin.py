"""Users with passwords: created, removed (not the last admin, not an owner), passwords
changed (by an admin, or by the user with its current one) and kept as argon2 hashes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.integration.conftest import Rig

OLD = "old password 1"
NEW = "new password 2"


async def test_passwords_are_stored_as_argon2_hashes(rig: Rig, tmp_path: Path) -> None:
    await rig.admin.add_user("alice", "user", OLD)
    stored = rig.core.store.get_password_hash("alice")
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert OLD not in stored
    with sqlite3.connect(tmp_path / "tashi.db") as db:  # nowhere in the database either
        dump = "\n".join(db.iterdump())
    assert stored in dump
    assert OLD not in dump
    await rig.admin.add_user("bob", "user")
    assert rig.core.store.get_password_hash("bob") is None
    with pytest.raises(InvalidInput, match="a password has 8 to 1024 characters"):
        await rig.admin.add_user("carol", "user", "short")
    with pytest.raises(NotFound):
        rig.core.store.get_user("carol")


async def test_a_user_changes_its_own_password_with_the_current_one(rig: Rig) -> None:
    alice = rig.client((await rig.admin.add_user("alice", "user", OLD)).token)
    with pytest.raises(InvalidInput, match="current password"):
        await alice.set_password("alice", NEW)
    with pytest.raises(Unauthenticated, match="wrong user name or password"):
        await alice.set_password("alice", NEW, current="not it at all")
    await alice.set_password("alice", NEW, current=OLD)
    anyone = rig.client(None)
    assert (await anyone.login("alice", NEW)).user == "alice"
    with pytest.raises(Unauthenticated):
        await anyone.login("alice", OLD)


async def test_only_admins_set_others_passwords(rig: Rig) -> None:
    alice = rig.client((await rig.admin.add_user("alice", "user", OLD)).token)
    await rig.admin.add_user("bob", "user")
    with pytest.raises(Forbidden, match="only its own password"):
        await alice.set_password("bob", NEW, current=OLD)
    await rig.admin.set_password("bob", NEW)  # no current password needed
    assert (await rig.client(None).login("bob", NEW)).user == "bob"
    with pytest.raises(NotFound):
        await rig.admin.set_password("carol", NEW)


async def test_removing_a_user_revokes_its_tokens(rig: Rig) -> None:
    made = await rig.admin.add_user("alice", "user", OLD)
    alice = rig.client(made.token)
    await alice.create_token("laptop")
    await rig.admin.delete_user("alice")
    with pytest.raises(Unauthenticated):
        await alice.whoami()
    assert rig.core.store.list_tokens(user="alice") == []
    assert [u.name for u in await rig.admin.list_users()] == ["admin"]
    with pytest.raises(NotFound):
        await rig.admin.delete_user("alice")
    with pytest.raises(Forbidden):
        await rig.client((await rig.admin.add_user("bob", "user")).token).delete_user("admin")


async def test_the_last_admin_cannot_be_removed(rig: Rig) -> None:
    with pytest.raises(Conflict, match="'admin' is the last admin"):
        await rig.admin.delete_user("admin")
    ops = rig.client((await rig.admin.add_user("ops", "admin")).token)
    await ops.delete_user("admin")  # another admin remains
    with pytest.raises(Conflict, match="last admin"):
        await ops.delete_user("ops")
    assert [u.name for u in await ops.list_users()] == ["ops"]


async def test_an_owner_of_instances_cannot_be_removed(rig: Rig) -> None:
    alice = rig.client((await rig.admin.add_user("alice", "user")).token)
    await alice.create_instance(InstanceCreate(name="one", image="guest"))
    with pytest.raises(Conflict, match=r"still owns 1 instance\(s\); destroy them first"):
        await rig.admin.delete_user("alice")
    assert (await alice.whoami()).name == "alice"
