"""The pickle store's own rules: one file, written atomically, locked, plain data only."""

from __future__ import annotations

import os
import pickle
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tashi.domain.errors import Conflict, InvalidInput
from tashi.domain.models import NewInstance
from tashi.domain.states import Role
from tashi.store import open_store
from tashi.store.picklefile import PickleStore, rows
from tashi.store.picklefile.file import PROTOCOL, StateFile
from tashi.store.sql.engine import make_engine
from tashi.store.transfer import to_document
from tests.integration.test_store_contract import given_images, new_instance, opened, spec
from tests.integration.test_store_snapshot import populate
from tests.integration.test_store_sql import _migrate_to


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state.pickle"
    store = open_store(f"pickle://{path}")
    inst = new_instance(store)
    store.put_console(inst.id, "login: ")
    doomed = new_instance(store, "doomed")
    store.delete_instance(doomed.id, generation=1)
    before = store.snapshot()
    store.close()
    again = PickleStore(path)
    try:
        assert again.snapshot() == before
        assert new_instance(again, "next").id == doomed.id + 1  # a deleted id stays taken
    finally:
        again.close()


def test_the_file_is_private_and_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.pickle"
    store = PickleStore(path)
    try:
        store.create_user("alice", Role.ADMIN)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.pickle",
                                                              "state.pickle.lock"]
    finally:
        store.close()


def test_a_second_store_on_one_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.pickle"
    first = PickleStore(path)
    try:
        with pytest.raises(Conflict, match=f"{path}.*in use"):
            PickleStore(path)
    finally:
        first.close()
    PickleStore(path).close()  # free again once the first is closed


def test_a_failed_save_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PickleStore(tmp_path / "state.pickle")
    try:
        store.create_user("alice", Role.ADMIN)

        def full_disk(self: StateFile, snap: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(StateFile, "save", full_disk)
        with pytest.raises(OSError, match="No space"):
            store.create_user("bob", Role.USER)
        monkeypatch.undo()
        assert [u.name for u in store.list_users()] == ["alice"]
        assert store.create_user("bob", Role.USER).id == 2  # the failed write took no id
    finally:
        store.close()


def test_a_failed_save_of_a_batch_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.pickle"
    store = PickleStore(path)
    try:
        web = new_instance(store)
        news = given_images(store, *(NewInstance(f"vm{n}", "alice", spec()) for n in range(3)))
        before, saved = store.snapshot(), path.read_bytes()

        def full_disk(self: StateFile, snap: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(StateFile, "save", full_disk)
        with pytest.raises(OSError, match="No space"):
            store.create_instances(news, event="created")
        with pytest.raises(OSError, match="No space"):
            store.update_instance(web.id, generation=1, spec=replace(web.spec, host="n1"))
        monkeypatch.undo()
        assert store.snapshot() == before
        assert path.read_bytes() == saved
        created = store.create_instances(news, event="created")
        assert [i.id for i in created] == [web.id + 1, web.id + 2, web.id + 3]
    finally:
        store.close()
    with opened(f"pickle://{path}") as again:
        assert [i.name for i in again.list_instances()] == ["web", "vm0", "vm1", "vm2"]


def test_only_writes_that_change_something_save(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    saves: list[dict[str, Any]] = []
    real_save = StateFile.save

    def counted(self: StateFile, doc: dict[str, Any]) -> None:
        saves.append(doc)
        real_save(self, doc)

    monkeypatch.setattr(StateFile, "save", counted)
    with opened(f"pickle://{tmp_path / 'state.pickle'}") as store:
        assert len(saves) == 1  # the new, empty store
        store.create_user("alice", Role.ADMIN)
        users = saves[-1]["tables"]["users"]
        assert [row[users["columns"].index("name")] for row in users["rows"]] == ["alice"]
        store.list_users()
        store.snapshot()
        with pytest.raises(Conflict):
            store.create_user("alice", Role.USER)
        assert len(saves) == 2


def test_a_file_of_the_older_pickle_store_loads(tmp_path: Path) -> None:
    """The older pickle store saved the export's plain document (pickled, not JSON)."""
    with opened(f"sqlite:///{tmp_path / 'tashi.db'}") as source:
        populate(source)
        snap = source.snapshot()
    old = to_document(snap)
    old["version"] = 1  # as the first ones were, before passwords
    del old["passwords"]
    path = tmp_path / "state.pickle"
    path.write_bytes(pickle.dumps(old, protocol=PROTOCOL))
    with opened(f"pickle://{path}") as store:
        assert store.snapshot() == snap
        assert new_instance(store, "next").id == snap.next_instance_id


class Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/tashi-pickle-was-executed",))


def test_a_file_that_is_not_plain_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.pickle"
    path.write_bytes(pickle.dumps({"format": "tashi-store", "users": [Boom()]}))
    with pytest.raises(InvalidInput, match=rf"{path}: not a readable pickle store: refused"):
        PickleStore(path)
    assert not Path("/tmp/tashi-pickle-was-executed").exists()
    path.write_bytes(pickle.dumps({"format": "something else"}))
    with pytest.raises(InvalidInput, match="not a Tashi store document"):
        PickleStore(path)
    path.unlink()
    PickleStore(path).close()  # the failed opens left no lock held


def test_a_file_of_an_older_schema_is_migrated_when_loaded(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _migrate_to(url, "0004")  # before instances' disks had a table of their own
    spec_0004 = ('{"cores": 1, "memory_mib": 128, "disks": [{"image": "base", '
                 '"persistent": true}], "nics": [], "shutdown_timeout_s": 60}')
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO images (name, owner, format, size_bytes, virtual_size_bytes, "
                "created_at) VALUES ('base', 'alice', 'raw', 1, 1, '2026-11-01 00:00:00')"))
            connection.execute(text(
                "INSERT INTO instances (name, owner, state, spec, status, generation, "
                "created_at, updated_at) VALUES ('old', 'alice', 'Running', :spec, '{}', 3, "
                "'2026-11-01 00:00:00', '2026-11-01 00:00:00')"), {"spec": spec_0004})
            doc = rows.dump(connection)
    finally:
        engine.dispose()
    assert doc["schema"] == "0004"
    path = tmp_path / "state.pickle"
    path.write_bytes(pickle.dumps(doc, protocol=PROTOCOL))
    with opened(f"pickle://{path}") as store:
        (old,) = store.list_instances()
        assert (old.name, old.generation) == ("old", 3)
        with pytest.raises(Conflict):  # its disk, moved to a table of its own, uses it
            store.delete_image("base")


def test_a_file_of_rows_it_cannot_take_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.pickle"
    with opened(f"pickle://{path}") as store:
        store.create_user("alice", Role.ADMIN)
    saved = StateFile(path)
    doc = saved.load()
    saved.close()
    changes: list[tuple[dict[str, Any], str]] = [
        ({"schema": "9999"}, "schema '9999'.*run a newer Tashi"),
        ({"tables": {"nope": {"columns": ["id"], "rows": [(1,)]}}},
         "malformed pickle store.*no table 'nope'"),
        ({"tables": {"users": {"columns": ["id"], "rows": [([],)]}}}, "malformed pickle store"),
    ]
    for change, error in changes:
        path.write_bytes(pickle.dumps({**doc, **change}, protocol=PROTOCOL))
        with pytest.raises(InvalidInput, match=error):
            PickleStore(path)
    path.write_bytes(pickle.dumps(doc, protocol=PROTOCOL))
    with opened(f"pickle://{path}") as store:  # the failed opens left no lock held
        assert [u.name for u in store.list_users()] == ["alice"]
