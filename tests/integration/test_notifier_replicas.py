"""Two real ``tashi-manager`` processes on one PostgreSQL database: a write through one
wakes a long-poll parked on the other at once (LISTEN/NOTIFY), also after either's
notifier connections were ended by the server (``pg_terminate_backend``).

Every manager listens on loopback only; every process started is stopped at the end,
whether the test passed or not.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tashi.api.schemas import InstanceCreate, SnapshotOut
from tashi.client import TashiClient
from tashi.domain.models import ImageFormat, Visibility
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.pgnotify import CHANNEL
from tashi.store import open_store
from tashi.store.base import NewImage
from tashi.store.factory import redact
from tests.integration.conftest import PostgresCluster, raw_client

BIN = Path(sys.executable).parent
SECRET = "not-the-password"  # in the store URL (trust auth ignores it): never in a log
LONG_POLL_S = 20.0
AT_ONCE_S = 2.0  # "well under the long-poll's timeout"


@dataclass
class Manager:
    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Managers:
    """Starts ``tashi-manager`` processes on one database; :meth:`stop_all` ends them."""

    db_url: str
    tmp: Path
    started: list[Manager] = field(default_factory=list)

    def start(self, name: str) -> Manager:
        port = _free_port()
        log = self.tmp / f"manager-{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
        env.update(TASHI_DB_URL=self.db_url, TASHI_LISTEN="127.0.0.1", TASHI_PORT=str(port),
                   TASHI_IMAGE_DIR=str(self.tmp / f"images-{name}"))
        with log.open("wb") as out:
            process = subprocess.Popen([str(BIN / "tashi-manager")], env=env, cwd=self.tmp,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)
        manager = Manager(f"http://127.0.0.1:{port}", log, process)
        self.started.append(manager)
        return manager

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _until_serving(m: Manager, timeout_s: float = 60) -> None:
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


def _listeners(cluster: PostgresCluster, database: str) -> dict[str, int]:
    """Backend pid of each replica's notifier connection that is LISTENing, by boot id
    (its application name is ``tashi notifier BOOT listen``)."""
    return {boot: pid for boot, pid in _backends(cluster, database, "listen")
            if pid in _listening_pids(cluster, database)}


def _backends(cluster: PostgresCluster, database: str, role: str) -> list[tuple[str, int]]:
    rows = _query(cluster, "SELECT application_name, pid FROM pg_stat_activity "
                  "WHERE datname = %s AND application_name LIKE %s",
                  (database, f"tashi notifier % {role}"))
    return [(str(name).split()[2], int(pid)) for name, pid in rows]


def _listening_pids(cluster: PostgresCluster, database: str) -> set[int]:
    rows = _query(cluster, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query = %s",
                  (database, f"LISTEN {CHANNEL}"))
    return {int(pid) for (pid,) in rows}


def _query(cluster: PostgresCluster, sql: str, args: tuple[object, ...]
           ) -> list[tuple[Any, ...]]:
    conninfo = f"host={cluster.socket_dir} dbname=postgres user=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(sql.encode(), args).fetchall()  # our own literal SQL


async def _until_listening(cluster: PostgresCluster, database: str, count: int,
                           not_pids: frozenset[int] = frozenset(),
                           timeout_s: float = 30) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _listeners(cluster, database)
        if len(found) == count and not set(found.values()) & not_pids:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"not {count} new listeners on {database}: {found}")


async def _parked(client: TashiClient) -> tuple[str, asyncio.Task[SnapshotOut]]:
    """A pending-watch parked on ``client``'s manager, with the revision it waits from
    (retried if something else answered it before we looked)."""
    for _ in range(20):
        revision = (await client.snapshot(None, 0)).revision
        watch = asyncio.create_task(client.snapshot(revision, LONG_POLL_S))
        await asyncio.sleep(0.3)
        if not watch.done():
            return revision, watch
        await watch
    raise AssertionError("the pending watch never stayed parked")


async def _woken_by(writer: TashiClient, watcher: TashiClient, name: str) -> float:
    """Seconds from a write (creating ``name``) through ``writer`` until the watch parked
    on ``watcher`` is answered; checks that answer already shows the write."""
    revision, watch = await _parked(watcher)
    await writer.create_instance(InstanceCreate(name=name, image="guest"))
    written = time.monotonic()
    snap = await asyncio.wait_for(watch, LONG_POLL_S + 10)
    latency = time.monotonic() - written
    assert snap.revision != revision
    assert name in {p.name for p in snap.pending}, snap.pending
    return latency


@dataclass(frozen=True)
class Database:
    url: str  # holds a password, so that the test can check it is never logged
    name: str
    admin_token: str


@pytest.fixture
def database(postgres: PostgresCluster) -> Database:
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
def managers(database: Database, tmp_path: Path) -> Iterator[Managers]:
    ms = Managers(database.url, tmp_path)
    try:
        yield ms
    finally:
        ms.stop_all()


async def _two(managers: Managers, postgres: PostgresCluster, database: Database
               ) -> tuple[Manager, Manager, dict[str, int]]:
    a, b = managers.start("a"), managers.start("b")
    await asyncio.gather(_until_serving(a), _until_serving(b))
    listeners = await _until_listening(postgres, database.name, 2)
    return a, b, listeners


async def test_a_write_on_one_replica_wakes_a_watcher_on_the_other(
        managers: Managers, postgres: PostgresCluster, database: Database) -> None:
    a, b, _ = await _two(managers, postgres, database)
    token = database.admin_token
    async with TashiClient(a.url, token) as ca, TashiClient(b.url, token) as cb:
        latencies = []
        for i in range(6):
            writer, watcher = (ca, cb) if i % 2 == 0 else (cb, ca)
            latencies.append(await _woken_by(writer, watcher, f"vm-{i}"))
    print(f"\nwake across replicas: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"all {[round(x * 1000, 1) for x in latencies]} ms")
    assert max(latencies) < AT_ONCE_S, latencies
    for m in (a, b):
        assert SECRET not in m.log_text()


async def test_watchers_survive_the_notifier_connections_being_ended(
        managers: Managers, postgres: PostgresCluster, database: Database) -> None:
    """B's LISTEN connection ended: its parked watcher is answered when it is back (a
    change may have been missed), and later writes wake it again; A's sending
    connection ended: its next write is sent on a new one. Each outage is logged once,
    naming the database by its redacted URL."""
    a, b, listeners = await _two(managers, postgres, database)
    token = database.admin_token
    async with TashiClient(a.url, token) as ca, TashiClient(b.url, token) as cb:
        b_boot = (await cb.snapshot(None, 0)).revision.split(".")[0]
        a_boot = (await ca.snapshot(None, 0)).revision.split(".")[0]
        revision, watch = await _parked(cb)
        _query(postgres, "SELECT pg_terminate_backend(%s)", (listeners[b_boot],))
        ended = time.monotonic()
        assert (await asyncio.wait_for(watch, LONG_POLL_S + 10)).revision != revision
        assert time.monotonic() - ended < LONG_POLL_S / 2  # the reconnect, not the timeout
        await _until_listening(postgres, database.name, 2, frozenset({listeners[b_boot]}))
        assert await _woken_by(ca, cb, "after-listen") < AT_ONCE_S

        senders = dict(_backends(postgres, database.name, "send"))
        _query(postgres, "SELECT pg_terminate_backend(%s)", (senders[a_boot],))
        assert await _woken_by(ca, cb, "after-send") < AT_ONCE_S
    shown = redact(database.url)
    b_log, a_log = b.log_text(), a.log_text()
    assert b_log.count(f"notifier on {shown}: the listen connection failed") == 1, b_log
    assert b_log.count(f"notifier on {shown}: the listen connection is back; waking every "
                       "watcher") == 1, b_log
    assert a_log.count(f"notifier on {shown}: the send connection failed") == 1, a_log
    assert a_log.count(f"notifier on {shown}: the send connection is back") == 1, a_log
    for text in (a_log, b_log):
        assert SECRET not in text
