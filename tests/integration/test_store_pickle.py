"""The pickle store's own rules: one file, written atomically, locked, plain data only."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from tashi.domain.errors import Conflict, InvalidInput
from tashi.domain.states import Role
from tashi.store import open_store
from tashi.store.picklefile import PickleStore
from tashi.store.picklefile.file import StateFile
from tests.integration.test_store_contract import new_instance


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "data" / "state.pickle"
    store = open_store(f"pickle://{path}")
    inst = new_instance(store)
    store.put_console(inst.id, "login: ")
    before = store.snapshot()
    store.close()
    again = PickleStore(path)
    try:
        assert again.snapshot() == before
        assert new_instance(again, "next").id == inst.id + 1
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
