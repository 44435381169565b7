"""Wake-ups for long-polls across manager replicas sharing one PostgreSQL database.

Each replica keeps the in-process :class:`~tashi.manager.notifier.Notifier` (its own
counters, its own boot id) and adds two connections of its own to the database:

- a *sender*: ``bump`` (called right after the store's write committed, from any
  thread) wakes the local watchers at once and queues the keys; a task on the
  manager's loop sends them with ``pg_notify`` on :data:`CHANNEL` (keys queued
  meanwhile are sent together; a failed send is retried on a new connection);
- a *listener*: ``LISTEN`` on :data:`CHANNEL`; a notification from another replica
  moves that replica's revision of each key on and wakes its watchers, as a local
  bump would (its own notifications, known by the boot id, are skipped).

Revisions stay ``BOOT.COUNTER`` per replica. A revision another replica gave differs
from every one this replica gives, so it is answered at once (level-triggered: the
watcher re-reads and carries on with this replica's revision). Since a notification
is sent after the commit and a replica hands out the revision before the read that
follows, a watcher never waits after a change it has not read.

If the listener's connection drops (PostgreSQL restarted, the backend was ended), it
reconnects with backoff and then wakes every watcher (a notification may have been
missed while it was away). The database is logged by its redacted URL only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg
from psycopg.rows import TupleRow
from sqlalchemy import make_url

from tashi.manager.notifier import Notifier
from tashi.store.factory import pickle_path, redact, sql_url

log = logging.getLogger(__name__)

CHANNEL = "tashi_wake"
MAX_PAYLOAD = 7000  # bytes; PostgreSQL refuses payloads of 8000 bytes and more

Connection = psycopg.AsyncConnection[TupleRow]


def notifier_for(db_url: str) -> Notifier:
    """The notifier for a manager on the store at ``db_url``: one that crosses
    replicas for PostgreSQL, the in-process one for sqlite and pickle stores."""
    if pickle_path(db_url) is None:
        url = make_url(sql_url(db_url))
        if url.get_backend_name() == "postgresql":
            conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
            return PgNotifier(conninfo, redact(db_url))
    return Notifier()


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts to reach the database: ``first``, doubling, at most ``most``."""

    first_s: float = 0.2
    most_s: float = 10.0

    def next(self, delay_s: float) -> float:
        return min(self.most_s, max(self.first_s, delay_s * 2))


def encode(boot: str, keys: list[str]) -> list[str]:
    """Payloads naming ``keys`` as changed by replica ``boot``, each under
    :data:`MAX_PAYLOAD` bytes (JSON: ``{"from": BOOT, "keys": [...]}``)."""
    def payload(batch: list[str]) -> str:
        return json.dumps({"from": boot, "keys": batch})

    payloads: list[str] = []
    batch: list[str] = []
    size = len(payload([]).encode())
    for key in keys:
        more = len(json.dumps(key).encode()) + 2  # the key and ", "
        if batch and size + more > MAX_PAYLOAD:
            payloads.append(payload(batch))
            batch, size = [], len(payload([]).encode())
        batch.append(key)
        size += more
    if batch:
        payloads.append(payload(batch))
    return payloads


def decode(payload: str) -> tuple[str, tuple[str, ...]] | None:
    """``(boot, keys)`` of a payload :func:`encode` made, or None if it is not one."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    boot, keys = data.get("from"), data.get("keys")
    if not isinstance(boot, str) or not isinstance(keys, list) \
            or not all(isinstance(k, str) for k in keys):
        return None
    return boot, tuple(keys)


class PgNotifier(Notifier):
    """A :class:`Notifier` whose bumps also wake the watchers of the other replicas
    on the same PostgreSQL database (see the module's docstring).

    ``conninfo`` is a libpq URL (it may hold a password: never logged); ``database``
    names the database in logs (redacted). The two connections live on the loop given
    to :meth:`attach` and end at :meth:`close` (or when that loop's tasks are cancelled).
    """

    def __init__(self, conninfo: str, database: str, *, backoff: Backoff | None = None) -> None:
        super().__init__()
        self._conninfo = conninfo
        self._database = database
        self._backoff = backoff or Backoff()
        self._outbox: asyncio.Queue[tuple[str, ...]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake watchers on ``loop`` and start the sender and the listener there (any
        earlier ones are stopped). Call it from ``loop``'s thread."""
        self._stop_tasks()
        self._outbox = asyncio.Queue()
        self._tasks = [loop.create_task(self._send_forever(self._outbox), name="pg-notify-send"),
                       loop.create_task(self._listen_forever(), name="pg-notify-listen")]
        super().attach(loop)

    def close(self) -> None:
        """Answer every watcher now and later; stop sending and listening."""
        super().close()
        self._stop_tasks()

    def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        self._outbox = None

    def _publish(self, keys: tuple[str, ...]) -> None:
        outbox = self._outbox
        if outbox is not None and keys:
            self._on_loop(outbox.put_nowait, keys)

    async def _connect(self, role: str) -> Connection:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=10,
            application_name=f"tashi notifier {self.boot_id} {role}",
            keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)

    def _link(self, role: str) -> _Link:
        return _Link(lambda: self._connect(role), f"notifier on {self._database}: the "
                     f"{role} connection", self._backoff)

    async def _send_forever(self, outbox: asyncio.Queue[tuple[str, ...]]) -> None:
        """Send what ``outbox`` receives, coalesced, until cancelled; a failed send is
        retried on a new connection after a backoff, so no bump is dropped."""
        link, pending = self._link("send"), set[str]()
        try:
            with contextlib.suppress(Exception):  # else opened at the first send
                await link.open()
            while True:
                if not pending:
                    pending.update(await outbox.get())
                while not outbox.empty():
                    pending.update(outbox.get_nowait())
                try:
                    conn = await link.open()
                    for payload in encode(self.boot_id, sorted(pending)):
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                except Exception as exc:  # noqa: BLE001 (any failure: a new connection)
                    await link.failed(exc)
                    continue
                link.working("")
                pending.clear()
        finally:
            await link.close()

    async def _listen_forever(self) -> None:
        """LISTEN and wake watchers until cancelled; reconnect whenever it drops, then
        wake every watcher (what was missed meanwhile, or before the first LISTEN)."""
        link = self._link("listen")
        try:
            while True:
                try:
                    conn = await link.open()
                    await conn.execute(f"LISTEN {CHANNEL}")
                except Exception as exc:  # noqa: BLE001 (any failure: a new connection)
                    await link.failed(exc)
                    continue
                link.working("; waking every watcher")
                await link.failed(await self._receive(conn))
        finally:
            await link.close()

    async def _receive(self, conn: Connection) -> Exception:
        """Wake watchers for each notification on ``conn`` until it fails; why it did."""
        self.wake_all()
        try:
            async for note in conn.notifies():
                self._received(note.payload)
        except Exception as exc:  # noqa: BLE001 (returned: the caller reconnects)
            return exc
        return ConnectionError("the notifications stopped")

    def _received(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            log.warning("notifier on %s: a notification on %s is not Tashi's (%.80r); "
                        "waking every watcher", self._database, CHANNEL, payload)
            self.wake_all()
        elif decoded[0] != self.boot_id:
            self._note(decoded[1])


class _Link:
    """One connection, opened when needed and reopened after a failure with backoff.
    An outage is logged once when it starts (as ``what``) and once when it ends."""

    def __init__(self, connect: Callable[[], Awaitable[Connection]], what: str,
                 backoff: Backoff) -> None:
        self._connect = connect
        self._what = what
        self._backoff = backoff
        self._conn: Connection | None = None
        self._delay_s = 0.0
        self._down = False

    async def open(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        return self._conn

    def working(self, then: str) -> None:
        """The connection works: end an outage (logging it, with ``then``)."""
        if self._down:
            log.info("%s is back%s", self._what, then)
        self._down, self._delay_s = False, 0.0

    async def failed(self, exc: Exception) -> None:
        """Drop the connection, log the outage if it is new, wait before the next try."""
        await self.close()
        if not self._down:
            log.warning("%s failed (%s); reconnecting with backoff", self._what, _one_line(exc))
        else:
            log.debug("%s: still failing (%s)", self._what, _one_line(exc))
        self._down = True
        self._delay_s = self._backoff.next(self._delay_s)
        await asyncio.sleep(self._delay_s)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
