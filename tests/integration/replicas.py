"""Real ``tashi-manager`` processes on one PostgreSQL database, for the replica tests
(``test_notifier_replicas.py``, ``test_manager_replicas.py``) and
``benchmarks/failover.py``.

Every manager listens on loopback only; :meth:`Managers.stop_all` ends every process
started (the fixture calls it whether the test passed or not).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tashi.domain.models import ImageFormat, Visibility
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.store import open_store
from tashi.store.base import NewImage
from tests.integration.conftest import PostgresCluster, raw_client

BIN = Path(sys.executable).parent
SECRET = "not-the-password"  # in the store URL (trust auth ignores it): never in a log


@dataclass
class Manager:
    name: str
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Managers:
    """Starts ``tashi-manager`` processes on one database; :meth:`stop_all` ends them.
    ``env``: settings every one of them gets (``TASHI_*``)."""

    db_url: str
    tmp: Path
    env: Mapping[str, str] = field(default_factory=dict)
    started: list[Manager] = field(default_factory=list)

    def start(self, name: str) -> Manager:
        """Manager ``name`` (also its replica id), on a free loopback port."""
        port = free_port()
        log = self.tmp / f"manager-{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
        env.update(TASHI_DB_URL=self.db_url, TASHI_LISTEN="127.0.0.1", TASHI_PORT=str(port),
                   TASHI_IMAGE_DIR=str(self.tmp / f"images-{name}"), TASHI_REPLICA_ID=name)
        env.update(self.env)
        with log.open("ab") as out:
            process = subprocess.Popen([str(BIN / "tashi-manager")], env=env, cwd=self.tmp,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)
        manager = Manager(name, f"http://127.0.0.1:{port}", log, process)
        self.started.append(manager)
        return manager

    def named(self, name: str) -> Manager:
        return next(m for m in self.started if m.name == name and m.process.poll() is None)

    def kill(self, manager: Manager) -> None:
        """SIGKILL: no lease released, no connection closed cleanly."""
        manager.process.kill()
        manager.process.wait()

    def stop_all(self) -> None:
        for m in self.started:
            if m.process.poll() is None:
                m.process.send_signal(signal.SIGTERM)
        for m in self.started:
            try:
                m.process.wait(15)
            except subprocess.TimeoutExpired:
                m.process.kill()
                m.process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def until_serving(m: Manager, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with raw_client() as http:
        while time.monotonic() < deadline:
            if m.process.poll() is not None:
                pytest.fail(f"manager {m.url} exited ({m.process.returncode}):\n"
                            f"{m.log_text()[-3000:]}")
            try:
                if (await http.get(f"{m.url}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"manager {m.url} not serving after {timeout_s} s:\n{m.log_text()[-3000:]}")


def query(cluster: PostgresCluster, sql: str, args: tuple[object, ...] = (),
          dbname: str = "postgres") -> list[tuple[Any, ...]]:
    """The rows ``sql`` (our own literal SQL) gives on database ``dbname``."""
    conninfo = f"host={cluster.socket_dir} dbname={dbname} user=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(sql.encode(), args).fetchall()


def leader(cluster: PostgresCluster, dbname: str) -> tuple[str, int] | None:
    """The replica holding the leader lease now, and its token (None: nobody)."""
    rows = query(cluster, "SELECT holder, token FROM leases WHERE name = 'manager-leader' "
                 "AND expires_at > extract(epoch from clock_timestamp())", (), dbname)
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


@dataclass(frozen=True)
class Database:
    url: str  # holds a password, so that the test can check it is never logged
    name: str
    admin_token: str


def new_database(postgres: PostgresCluster) -> Database:
    """A fresh database with an admin, the default network and image ``guest``."""
    url = postgres.new_database().replace("postgres@", f"postgres:{SECRET}@", 1)
    store = open_store(url)
    try:
        token = ensure_admin(store)
        ensure_default_network(store)
        store.create_image(NewImage("guest", "admin", ImageFormat.RAW, 1024, 1024,
                                    visibility=Visibility.PUBLIC))
    finally:
        store.close()
    assert token is not None
    return Database(url, urlsplit(url).path.lstrip("/"), token)


@pytest.fixture
def database(postgres: PostgresCluster) -> Database:
    return new_database(postgres)


@pytest.fixture
def managers(database: Database, tmp_path: Path) -> Iterator[Managers]:
    ms = Managers(database.url, tmp_path)
    try:
        yield ms
    finally:
        ms.stop_all()
