"""Export and import: a cluster's whole state moved between stores, and the CLI for it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from tashi.cmd.manager import main
from tashi.domain.errors import InvalidInput
from tashi.domain.states import Role
from tashi.store import open_store
from tashi.store.transfer import VERSION, export_store, import_store
from tests.integration.test_store_contract import opened
from tests.integration.test_store_snapshot import populate


def sqlite_url(tmp_path: Path, name: str = "source") -> str:
    return f"sqlite:///{tmp_path / name / 'tashi.db'}"


def export_populated_sqlite(tmp_path: Path) -> Path:
    first = tmp_path / "first.json"
    with opened(sqlite_url(tmp_path)) as source:
        populate(source)
        export_store(source, first)
    return first


@pytest.mark.parametrize("target", ["postgresql", "pickle"])
def test_round_trip_from_sqlite(target: str, request: pytest.FixtureRequest,
                                tmp_path: Path) -> None:
    first = export_populated_sqlite(tmp_path)
    url = (request.getfixturevalue("postgres_url") if target == "postgresql"
           else f"pickle://{tmp_path / 'state.pickle'}")
    second = tmp_path / "second.json"
    with opened(url) as store:
        import_store(store, first)
        export_store(store, second)
    assert json.loads(second.read_text()) == json.loads(first.read_text())
    assert stat.S_IMODE(first.stat().st_mode) == 0o600


def test_the_document(tmp_path: Path) -> None:
    doc = json.loads(export_populated_sqlite(tmp_path).read_text())
    assert (doc["format"], doc["version"]) == ("tashi-store", VERSION)
    assert [t["token_hash"] for t in doc["tokens"]] == ["hash-alice", "hash-node1"]
    web = doc["instances"][0]
    assert (web["name"], web["generation"], web["state"]) == ("web", 2, "Activating")
    assert web["spec"]["host"] == "node1"
    assert web["created_at"].endswith("+00:00")
    assert doc["next_ids"]["instances"] == 4  # web, db, and the deleted doomed


def test_bad_documents_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    with opened(sqlite_url(tmp_path)) as store:
        for text, error in [("{", "cannot read"), ('{"format": "x"}', "not a Tashi store"),
                            ('{"format": "tashi-store", "version": 99}', "version 99"),
                            ('{"format": "tashi-store", "version": 1}', "malformed")]:
            path.write_text(text)
            with pytest.raises(InvalidInput, match=error):
                import_store(store, path)
        assert store.list_users() == []


def test_manager_export_and_import_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    source = sqlite_url(tmp_path)
    with opened(source) as store:
        store.create_user("alice", Role.ADMIN)
    file = tmp_path / "cluster.json"
    done = runner.invoke(main, ["export", str(file), "--db-url", source])
    assert done.exit_code == 0, done.output
    assert "exported 0 instances, 0 hosts, 1 users" in done.output
    target = f"pickle://{tmp_path / 'state.pickle'}"
    done = runner.invoke(main, ["import", str(file), "--db-url", target])
    assert done.exit_code == 0, done.output
    with opened(target) as store:
        assert [u.name for u in store.list_users()] == ["alice"]
    again = runner.invoke(main, ["import", str(file), "--db-url", source])
    assert again.exit_code == 5  # Conflict
    assert "not empty" in again.output


def test_manager_default_and_migrate(tmp_path: Path) -> None:
    runner = CliRunner()
    helped = runner.invoke(main, ["--help"])
    assert helped.exit_code == 0
    assert "export" in helped.output
    assert "import" in helped.output
    url = sqlite_url(tmp_path, "migrated")
    done = runner.invoke(main, ["--db-url", url, "--migrate"])
    assert (done.exit_code, done.output) == (0, "store is migrated\n")
    open_store(url).close()
