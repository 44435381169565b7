"""What every store keeps of images' namespaces and of tokens' expiry for the caller
(issue 9 §2, §4, §10): run on sqlite, pickle and PostgreSQL (``store`` of the contract)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from tashi.domain.models import ImageFormat, Visibility
from tashi.domain.states import Role
from tashi.store import open_store
from tashi.store.base import NewImage, Store
from tashi.store.sql import migrate
from tashi.store.sql.engine import make_engine
from tests.integration.test_store_contract import opened, store
from tests.integration.test_store_sql import _migrate_to

__all__ = ["store"]  # the fixture, used by name


def test_images_keep_visibility_and_minimum_memory(store: Store, tmp_path: Path) -> None:
    public = store.create_image(NewImage("admin/tashi-guest", "admin", ImageFormat.QCOW2,
                                         10, 64 << 20, Visibility.PUBLIC, 96))
    private = store.create_image(NewImage("alice/debian-12", "alice", ImageFormat.RAW, 1, 1))
    assert (public.visibility, public.min_memory_mib) == (Visibility.PUBLIC, 96)
    assert (private.visibility, private.min_memory_mib) == (Visibility.PRIVATE, 0)
    assert store.get_image("admin/tashi-guest") == public
    assert store.list_images() == [public, private]
    snap = store.snapshot()
    with opened(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        copy.restore(snap)
        assert copy.list_images() == [public, private]


def test_a_principal_knows_when_its_token_expires(store: Store) -> None:
    store.create_user("alice", Role.USER)
    at = datetime.now(UTC) + timedelta(hours=1)
    store.add_token("h-expiring", "short", user="alice", expires_at=at)
    store.add_token("h-forever", "long", user="alice")
    now = datetime.now(UTC)
    for _ in range(2):  # read from the store, then from its cache
        expiring = store.principal_for_token("h-expiring", now)
        forever = store.principal_for_token("h-forever", now)
        assert expiring is not None
        assert forever is not None
        assert expiring.token_expires_at == at
        assert forever.token_expires_at is None


def test_migration_0011_makes_admins_images_public(tmp_path: Path) -> None:
    """Images from before namespaces keep their names; an admin's become public (every
    user booted them), a user's private."""
    url = f"sqlite:///{tmp_path / 'tashi.db'}"
    _migrate_to(url, "0010")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for name, role in (("root", "admin"), ("mallory", "user")):
                connection.execute(text(
                    "INSERT INTO users (name, role, created_at, source) VALUES "
                    "(:name, :role, '2026-11-01 00:00:00', 'local')"), {"name": name, "role": role})
            for name, owner in (("debian-12", "root"), ("claimed", "mallory")):
                connection.execute(text(
                    "INSERT INTO images (name, owner, format, size_bytes, virtual_size_bytes, "
                    "created_at) VALUES (:name, :owner, 'raw', 1, 1, '2026-11-01 00:00:00')"),
                    {"name": name, "owner": owner})
    finally:
        engine.dispose()
    migrate(url)
    store = open_store(url)
    try:
        assert [(i.name, i.owner, i.visibility, i.min_memory_mib) for i in store.list_images()] \
            == [("debian-12", "root", Visibility.PUBLIC, 0),
                ("claimed", "mallory", Visibility.PRIVATE, 0)]
    finally:
        store.close()
