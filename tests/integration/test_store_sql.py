"""The SQL store's own rules: migrations, the schema check on open, store URLs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from tashi.domain.derive import base_state
from tashi.domain.errors import InvalidInput, Unavailable
from tashi.domain.resources import Resources
from tashi.domain.states import Role
from tashi.store import migrate_store, open_store
from tashi.store.factory import redact, sql_url
from tashi.store.sql import SqlStore, migrate
from tashi.store.sql.engine import make_engine
from tashi.store.sql.tables import TRIGGER_KEPT, Base
from tests.integration.conftest import PostgresCluster


def test_migrate_creates_directory_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b' / 'tashi.db'}"
    migrate(url)
    migrate(url)
    store = SqlStore(url)
    try:
        store.create_user("alice", Role.USER)
    finally:
        store.close()
    reopened = open_store(url)
    try:
        assert reopened.get_user("alice").name == "alice"
    finally:
        reopened.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_tables(backend: str, request: pytest.FixtureRequest,
                                     tmp_path: Path) -> None:
    """The schema the migrations build is the one ``tables.py`` describes."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'tashi.db'}"
        migrate(url)
    else:
        url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={
                "include_name": lambda name, kind, _: not (kind == "table"
                                                           and name in TRIGGER_KEPT)})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_an_unmigrated_database_is_refused(tmp_path: Path, postgres: PostgresCluster) -> None:
    postgres.execute("CREATE DATABASE unmigrated")
    for url in (f"sqlite:///{tmp_path / 'tashi.db'}", postgres.url("unmigrated")):
        with pytest.raises(Unavailable, match=r"revision \(none\).*tashi-manager --migrate"):
            SqlStore(url)
        migrate_store(url)
        SqlStore(url).close()


def test_a_database_of_a_newer_tashi_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tashi.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(Unavailable, match="revision 9999, newer than this Tashi knows"):
        SqlStore(url)


def test_postgresql_urls_use_psycopg_and_passwords_are_never_logged(
    postgres: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    postgres.execute("CREATE DATABASE plain")
    # the test cluster trusts local connections, so any password gets in
    url = f"postgresql://postgres:s3cret-pw@/plain?host={postgres.socket_dir}"
    store = open_store(url)  # migrates, then opens
    try:
        assert store.create_user("alice", Role.USER).name == "alice"
    finally:
        store.close()
    assert "s3cret-pw" not in caplog.text
    assert "plain" in caplog.text  # the migration was logged, without the password
    assert sql_url(url).startswith("postgresql+psycopg://postgres:s3cret-pw@")
    assert redact(url) == f"postgresql://postgres:***@/plain?host={postgres.socket_dir}"


@pytest.mark.parametrize("url", [
    "mysql://u:pw@host/db", "postgresql+psycopg2://u:pw@host/db", "pickle://relative/file",
    "pickle:///a/dir/", "no url at all",
])
def test_unsupported_store_urls(url: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        open_store(url)
    assert ":pw@" not in caught.value.message


def _migrate_to(url: str, revision: str) -> None:
    from alembic import command

    from tashi.store.sql.migrate import alembic_config

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_migration_0005_fills_instance_disks_from_the_specs(tmp_path: Path) -> None:
    """Instances made before the disks had a table of their own keep their image rules."""
    url = f"sqlite:///{tmp_path / 'tashi.db'}"
    _migrate_to(url, "0004")
    spec = ('{"cores": 1, "memory_mib": 128, "disks": [{"image": "base", "persistent": false},'
            ' {"image": "data", "persistent": true}], "nics": [], "shutdown_timeout_s": 60}')
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO instances (name, owner, state, spec, status, generation, "
                "created_at, updated_at) VALUES ('old', 'alice', 'Running', :spec, '{}', 3, "
                "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"), {"spec": spec})
    finally:
        engine.dispose()
    migrate(url)
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT position, image, persistent FROM instance_disks ORDER BY position"))
            assert [tuple(r) for r in rows] == [(0, "base", 0), (1, "data", 1)]
    finally:
        engine.dispose()


def test_migration_0006_moves_intent_into_the_spec(tmp_path: Path) -> None:
    """Instances whose state held the intent keep it, now in their spec and status:
    the state derived afterwards is the state they had."""
    url = f"sqlite:///{tmp_path / 'tashi.db'}"
    _migrate_to(url, "0005")
    spec = ('{"cores": 1, "memory_mib": 128, "disks": [], "nics": [], '
            '"shutdown_timeout_s": 60}')
    states = ["Running", "ShuttingDown", "Destroying", "Exited", "Held", "Pending"]
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for n, state in enumerate(states):
                host = None if state in ("Held", "Pending") else "node1"
                connection.execute(text(
                    "INSERT INTO instances (name, owner, state, host, spec, status, generation,"
                    f" created_at, updated_at) VALUES ('i{n}', 'alice', :state, :host, :spec,"
                    " '{}', 3, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"),
                    {"spec": spec, "state": state, "host": host})
    finally:
        engine.dispose()
    migrate(url)
    store = SqlStore(url)
    try:
        found = {i.name: i for i in store.list_instances()}
        for n, state in enumerate(states):
            inst = found[f"i{n}"]
            assert base_state(inst.spec, inst.status) == state, (state, inst)
    finally:
        store.close()


def test_migration_0010_fills_the_claims_of_holding_instances(tmp_path: Path) -> None:
    """Instances holding resources when the schema moves to 0010 claim them at once:
    the hosts' usage is what it was."""
    url = f"sqlite:///{tmp_path / 'tashi.db'}"
    _migrate_to(url, "0009")
    spec = ('{"cores": 2, "memory_mib": 128, "disk_gib": 3, "disks": [], "nics": [], '
            '"shutdown_timeout_s": 60}')
    states = {"run": ("Running", "node1"), "stop": ("ShuttingDown", "node1"),
              "done": ("Exited", "node1"), "wait": ("Pending", None)}
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            for name, (state, host) in states.items():
                connection.execute(text(
                    "INSERT INTO instances (name, owner, state, host, spec, status, generation,"
                    " created_at, updated_at) VALUES (:name, 'alice', :state, :host, :spec,"
                    " '{}', 3, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"),
                    {"name": name, "spec": spec, "state": state, "host": host})
    finally:
        engine.dispose()
    migrate(url)
    store = SqlStore(url)
    try:
        assert [(c.instance, c.host, c.resources) for c in store.list_claims()] == [
            ("run", "node1", Resources(2, 128, 3)), ("stop", "node1", Resources(2, 128, 3))]
        assert {c.since for c in store.list_claims()} == {datetime(2026, 11, 1, tzinfo=UTC)}
        assert store.usage_by_host()["node1"].used == Resources(4, 256, 6)
    finally:
        store.close()
