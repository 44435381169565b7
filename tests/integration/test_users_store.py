"""The store contract for users' passwords and tokens, on every store (``STORES``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tashi.domain.errors import Conflict, NotFound
from tashi.domain.states import Role
from tashi.store.base import Store
from tests.integration.test_store_contract import STORES, new_instance, opened


@pytest.fixture(params=sorted(STORES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(request: pytest.FixtureRequest, kind: str) -> Iterator[Store]:
    with opened(STORES[kind](request, "store")) as store:
        yield store


def test_password_hashes(store: Store) -> None:
    store.create_user("alice", Role.USER)
    assert store.get_password_hash("alice") is None  # a user may have tokens only
    store.set_password_hash("alice", "$argon2id$one")
    store.set_password_hash("alice", "$argon2id$two")
    assert store.get_password_hash("alice") == "$argon2id$two"
    store.set_password_hash("alice", None)
    assert store.get_password_hash("alice") is None
    with pytest.raises(NotFound, match="user 'bob' not found"):
        store.set_password_hash("bob", "$argon2id$x")
    with pytest.raises(NotFound, match="user 'bob' not found"):
        store.get_password_hash("bob")


def test_list_get_and_delete_tokens(store: Store) -> None:
    now = datetime.now(UTC)
    store.create_user("alice", Role.USER)
    store.create_user("bob", Role.USER)
    laptop = store.add_token("h-laptop", "laptop", user="alice", expires_at=now + timedelta(1))
    ci = store.add_token("h-ci", "ci", user="alice")
    bobs = store.add_token("h-bob", "phone", user="bob")
    agent = store.add_token("h-node1", "agent", host="node1")
    assert store.list_tokens(user="alice") == [laptop, ci]
    assert store.list_tokens(host="node1") == [agent]
    assert store.list_tokens() == [laptop, ci, bobs, agent]
    assert store.list_tokens(user="carol") == []
    assert store.get_token(ci.id) == ci
    assert store.delete_token(laptop.id) == laptop
    assert store.principal_for_token("h-laptop", now) is None  # revoked at once
    assert store.principal_for_token("h-ci", now) is not None
    assert store.list_tokens(user="alice") == [ci]
    with pytest.raises(NotFound, match=f"token {laptop.id} not found"):
        store.delete_token(laptop.id)
    with pytest.raises(NotFound):
        store.get_token(laptop.id)


def test_delete_user_takes_its_password_and_tokens(store: Store) -> None:
    now = datetime.now(UTC)
    store.create_user("root", Role.ADMIN)
    store.create_user("alice", Role.USER)
    store.set_password_hash("alice", "$argon2id$a")
    store.add_token("h-alice", "laptop", user="alice")
    kept = store.add_token("h-root", "root", user="root")
    store.delete_user("alice")
    with pytest.raises(NotFound):
        store.get_user("alice")
    assert store.principal_for_token("h-alice", now) is None
    assert store.list_tokens() == [kept]
    with pytest.raises(NotFound, match="user 'alice' not found"):
        store.delete_user("alice")
    store.create_user("alice", Role.USER)  # the name is free again, without the old password
    assert store.get_password_hash("alice") is None


def test_the_last_admin_stays(store: Store) -> None:
    store.create_user("root", Role.ADMIN)
    store.add_token("h-root", "root", user="root")
    with pytest.raises(Conflict, match="'root' is the last admin"):
        store.delete_user("root")
    assert store.principal_for_token("h-root", datetime.now(UTC)) is not None
    store.create_user("ops", Role.ADMIN)
    store.delete_user("root")
    with pytest.raises(Conflict, match="last admin"):
        store.delete_user("ops")
    assert [u.name for u in store.list_users()] == ["ops"]


def test_an_owner_of_instances_stays(store: Store) -> None:
    store.create_user("alice", Role.USER)
    new_instance(store, "a", "alice")
    new_instance(store, "b", "alice")
    with pytest.raises(Conflict, match=r"'alice' still owns 2 instance\(s\)"):
        store.delete_user("alice")
    assert store.get_user("alice").name == "alice"


def test_passwords_survive_snapshot_and_restore(request: pytest.FixtureRequest,
                                                kind: str) -> None:
    with opened(STORES[kind](request, "a")) as source:
        source.create_user("bob", Role.USER)
        source.create_user("alice", Role.ADMIN)
        source.set_password_hash("bob", "$argon2id$b")
        source.set_password_hash("alice", "$argon2id$a")
        snap = source.snapshot()
    assert snap.passwords == (("alice", "$argon2id$a"), ("bob", "$argon2id$b"))
    stray = dataclasses.replace(snap, passwords=(*snap.passwords, ("carol", "$argon2id$c")))
    with opened(STORES[kind](request, "b")) as target:
        with pytest.raises(Conflict, match="password of unknown user 'carol'"):
            target.restore(stray)
        target.restore(snap)
        assert target.snapshot() == snap
        assert target.get_password_hash("bob") == "$argon2id$b"


def test_users_keep_their_source_and_roles_change(store: Store) -> None:
    assert store.create_user("root", Role.ADMIN).source == "local"
    alice = store.create_user("alice", Role.USER, "ldap")
    assert (alice.source, store.get_user("alice").source) == ("ldap", "ldap")
    assert store.set_user_role("alice", Role.ADMIN).role is Role.ADMIN
    assert store.set_user_role("root", Role.USER).role is Role.USER
    with pytest.raises(Conflict, match="'alice' is the last admin"):
        store.set_user_role("alice", Role.USER)
    assert [(u.name, u.role, u.source) for u in store.list_users()] == [
        ("root", Role.USER, "local"), ("alice", Role.ADMIN, "ldap")]
    with pytest.raises(NotFound, match="user 'bob' not found"):
        store.set_user_role("bob", Role.ADMIN)


def test_sources_survive_snapshot_and_restore(request: pytest.FixtureRequest, kind: str) -> None:
    with opened(STORES[kind](request, "a")) as source:
        source.create_user("alice", Role.ADMIN, "ldap")
        source.create_user("bob", Role.USER, "system")
        snap = source.snapshot()
    with opened(STORES[kind](request, "b")) as target:
        target.restore(snap)
        assert [u.source for u in target.list_users()] == ["ldap", "system"]


def test_token_answers_follow_role_changes_and_revocations_at_once(store: Store) -> None:
    now = datetime.now(UTC)
    store.create_user("root", Role.ADMIN)
    store.create_user("alice", Role.USER)
    record = store.add_token("h-alice", "laptop", user="alice")
    first = store.principal_for_token("h-alice", now)
    assert first is not None
    assert first.user is not None
    assert not first.user.is_admin
    store.set_user_role("alice", Role.ADMIN)
    again = store.principal_for_token("h-alice", now)
    assert again is not None
    assert again.user is not None
    assert again.user.is_admin
    store.delete_token(record.id)
    assert store.principal_for_token("h-alice", now) is None
    store.add_token("h-alice2", "phone", user="alice")
    assert store.principal_for_token("h-alice2", now) is not None
    store.set_user_role("alice", Role.USER)
    store.delete_user("alice")
    assert store.principal_for_token("h-alice2", now) is None
