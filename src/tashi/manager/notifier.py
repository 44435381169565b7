"""Wake-ups for long-polls.

A change to what a host's agent (or the scheduler) should look at bumps a counter
under a key (``host:NAME``, ``pending``). Watchers send the revision they last saw
and are answered as soon as it differs, or when their wait ends. Revisions carry
the manager's boot id, so after a manager restart every watcher re-reads at once:
the watch is a hint, the answer is always the whole desired state (level-triggered).

``bump`` may be called from any thread (store calls run in a thread pool).

This notifier wakes the watchers of one process (sqlite and pickle stores: one
manager). :mod:`tashi.manager.pgnotify` extends it across manager replicas sharing a
PostgreSQL database; :func:`tashi.manager.pgnotify.notifier_for` picks one by store URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable

PENDING = "pending"


def host_key(host: str) -> str:
    return f"host:{host}"


def console_key(instance_id: int) -> str:
    return f"console:{instance_id}"


class Notifier:
    def __init__(self) -> None:
        self._boot = secrets.token_hex(4)
        self._counters: defaultdict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._waiters: defaultdict[str, set[asyncio.Future[None]]] = defaultdict(set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def close(self) -> None:
        """Answer every watcher now and every later one at once (the manager is stopping)."""
        self._closed = True
        for key in list(self._waiters):
            self._wake((key,))

    @property
    def closed(self) -> bool:
        """The manager is stopping: waits answer at once, and streams should end."""
        return self._closed

    def revision(self, key: str) -> str:
        with self._lock:
            return f"{self._boot}.{self._counters[key]}"

    @property
    def boot_id(self) -> str:
        """This process's part of every revision (differs per manager and per start)."""
        return self._boot

    def bump(self, *keys: str) -> None:
        """``keys`` changed (the write is committed): wake their watchers, here and,
        in a subclass, in the other replicas (see :meth:`_publish`)."""
        self._note(keys)
        self._publish(keys)

    def wake_all(self) -> None:
        """Every key may have changed (e.g. a change from elsewhere may have been
        missed): move every revision on and answer every watcher."""
        with self._lock:
            keys = tuple(self._counters)
        self._note(keys)

    def _publish(self, keys: tuple[str, ...]) -> None:
        """Tell the other replicas that ``keys`` changed; nothing to tell here."""

    def _note(self, keys: tuple[str, ...]) -> None:
        """Move the revisions of ``keys`` on and wake their local watchers (from any
        thread: the wake itself runs on the attached loop)."""
        with self._lock:
            for key in keys:
                self._counters[key] += 1
        self._on_loop(self._wake, keys)

    def _on_loop(self, fn: Callable[[tuple[str, ...]], None], keys: tuple[str, ...]) -> None:
        """Run ``fn(keys)`` on the attached loop: now if called on it, else soon (from any
        thread); not at all if no loop is attached or it has closed (stopping)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(keys)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: stopping
                loop.call_soon_threadsafe(fn, keys)

    def _wake(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            for fut in self._waiters.pop(key, set()):
                if not fut.done():
                    fut.set_result(None)

    async def wait(self, key: str, since: str | None, timeout_s: float) -> str:
        """Return the current revision of ``key`` once it differs from ``since``
        (at once if it already does), or after ``timeout_s``."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[key].add(fut)  # before the check, so no bump slips between
        try:
            current = self.revision(key)
            if since is None or since != current or self._closed:
                return current
            await asyncio.wait_for(asyncio.shield(fut), timeout_s)
        except TimeoutError:
            pass
        finally:
            self._waiters[key].discard(fut)
        return self.revision(key)
