"""Two real ``tashi-manager`` processes on one PostgreSQL database: a write through one
wakes a long-poll parked on the other at once (LISTEN/NOTIFY), also after either's
notifier connections were ended by the server (``pg_terminate_backend``).

Every manager listens on loopback only; every process started is stopped at the end,
whether the test passed or not (:mod:`tests.integration.replicas`).
"""

from __future__ import annotations

import asyncio
import statistics
import time

from tashi.api.schemas import InstanceCreate, SnapshotOut
from tashi.client import TashiClient
from tashi.manager.pgnotify import CHANNEL
from tashi.store.factory import redact
from tests.integration.conftest import PostgresCluster
from tests.integration.replicas import (
    SECRET,
    Database,
    Manager,
    Managers,
    database,
    managers,
    query,
    until_serving,
)

__all__ = ["database", "managers"]  # the fixtures, used by name
LONG_POLL_S = 20.0
AT_ONCE_S = 2.0  # "well under the long-poll's timeout"


def _listeners(cluster: PostgresCluster, database: str) -> dict[str, int]:
    """Backend pid of each replica's notifier connection that is LISTENing, by boot id
    (its application name is ``tashi notifier BOOT listen``)."""
    return {boot: pid for boot, pid in _backends(cluster, database, "listen")
            if pid in _listening_pids(cluster, database)}


def _backends(cluster: PostgresCluster, database: str, role: str) -> list[tuple[str, int]]:
    rows = query(cluster, "SELECT application_name, pid FROM pg_stat_activity "
                 "WHERE datname = %s AND application_name LIKE %s",
                 (database, f"tashi notifier % {role}"))
    return [(str(name).split()[2], int(pid)) for name, pid in rows]


def _listening_pids(cluster: PostgresCluster, database: str) -> set[int]:
    rows = query(cluster, "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query = %s",
                 (database, f"LISTEN {CHANNEL}"))
    return {int(pid) for (pid,) in rows}


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


async def _two(managers: Managers, postgres: PostgresCluster, database: Database
               ) -> tuple[Manager, Manager, dict[str, int]]:
    a, b = managers.start("a"), managers.start("b")
    await asyncio.gather(until_serving(a), until_serving(b))
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
        query(postgres, "SELECT pg_terminate_backend(%s)", (listeners[b_boot],))
        ended = time.monotonic()
        assert (await asyncio.wait_for(watch, LONG_POLL_S + 10)).revision != revision
        assert time.monotonic() - ended < LONG_POLL_S / 2  # the reconnect, not the timeout
        await _until_listening(postgres, database.name, 2, frozenset({listeners[b_boot]}))
        assert await _woken_by(ca, cb, "after-listen") < AT_ONCE_S

        senders = dict(_backends(postgres, database.name, "send"))
        query(postgres, "SELECT pg_terminate_backend(%s)", (senders[a_boot],))
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
