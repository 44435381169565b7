"""Data directories are 0700, store files and logs 0600, whatever the umask, also when
an older Tashi left them wider (issue 9 §3: a local user read the argon2 hashes)."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tashi.common.files import private_dir
from tashi.common.logs import logging_to_file
from tashi.domain.states import Role
from tashi.embedded.cluster import make_data_dir
from tashi.store import open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The widest umask: every mode below is Tashi's own doing."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def test_a_new_sqlite_store_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "tashi.db"
    store = open_store(f"sqlite:///{db}")
    try:
        store.create_user("alice", Role.USER)  # a write: the WAL holds it
        files = [db, db.with_name("tashi.db-wal"), db.with_name("tashi.db-shm")]
        assert all(f.exists() for f in files), list(db.parent.iterdir())
        assert [mode(f) for f in files] == [0o600] * 3
        assert mode(db.parent) == 0o700  # made by the store
    finally:
        store.close()


def test_an_existing_world_readable_store_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "tashi.db"
    os.chmod(tmp_path, 0o755)
    open_store(f"sqlite:///{db}").close()
    for f in tmp_path.glob("tashi.db*"):
        os.chmod(f, 0o644)  # as an older Tashi left them
    (tmp_path / "tashi.db-wal").write_bytes(b"")
    os.chmod(tmp_path / "tashi.db-wal", 0o644)
    store = open_store(f"sqlite:///{db}")
    try:
        assert {f.name: mode(f) for f in tmp_path.glob("tashi.db*")} == {
            f.name: 0o600 for f in tmp_path.glob("tashi.db*")}
        assert mode(tmp_path) == 0o755  # a directory it did not make is left as it is
    finally:
        store.close()


def test_the_pickle_store_and_its_lock_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "state.pickle"
    store = open_store(f"pickle://{path}")
    try:
        store.create_user("alice", Role.USER)
    finally:
        store.close()
    lock = path.with_name("state.pickle.lock")
    assert (mode(path), mode(lock), mode(path.parent)) == (0o600, 0o600, 0o700)
    os.chmod(path, 0o644)
    os.chmod(lock, 0o644)
    open_store(f"pickle://{path}").close()
    assert (mode(path), mode(lock)) == (0o600, 0o600)


def test_tashi_ups_data_directory_and_log_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    make_data_dir(data)
    assert mode(data) == 0o700
    log_file = data / "tashi-up.log"
    log_file.write_text("from an older Tashi\n")
    os.chmod(log_file, 0o644)
    with logging_to_file(log_file):
        logging.getLogger("tashi.test").warning("a line")
    assert mode(log_file) == 0o600
    assert "a line" in log_file.read_text()


def test_private_dir_makes_new_and_narrows_existing_directories(tmp_path: Path) -> None:
    new = private_dir(tmp_path / "a" / "b")
    assert mode(new) == 0o700
    wide = tmp_path / "wide"
    wide.mkdir(mode=0o777)
    assert mode(private_dir(wide)) == 0o700
