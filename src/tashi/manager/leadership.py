"""Which manager replica leads: the one holding the leader lease in the store.

Several ``tashi-manager`` processes may share one PostgreSQL database. The work that
must happen once (the liveness sweep and HA restarts, retries of Held instances,
evacuations, closing usage intervals) runs only in the replica that holds the lease
:data:`~tashi.domain.leases.LEADER` (:meth:`tashi.store.base.Store.acquire_lease`),
and its writes are fenced by the lease's token (:mod:`tashi.store.fencing`).

Timing, for a lease of ``L`` seconds (default 10):

- the holder renews every ``L/3``; the others try to acquire every ``L/10``;
- the holder considers itself leader only until ``start + L - margin`` by its own
  monotonic clock, ``start`` being when it *sent* its last successful renewal (or the
  acquisition). The database set the expiry to its own clock + ``L`` when it ran the
  statement, later than ``start``; so the holder stops leading at least ``margin``
  (default ``L/5``) before any other replica can acquire, whatever the clocks of the
  machines say (only their rates must agree within the margin);
- a holder that dies or is cut off leaves the lease to expire at most ``L`` after its
  last renewal, ``L/3`` before it died at the latest; the next replica to try then takes
  it: takeover within ``L + L/10`` of the death (11 s by default), plus the time the
  acquisition takes.

:func:`while_leading` runs the leader's loops: started (in a context fenced with the
token) on each acquisition, cancelled when leadership is lost or the deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol

from tashi.domain.leases import LEADER, Fence, Lease
from tashi.store.fencing import fenced_context

log = logging.getLogger(__name__)

LEASE_S = 10.0


def default_replica_id() -> str:
    """``HOST:PID``: unique among the replicas of a cluster, and says where to look."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaseStore(Protocol):
    """The part of :class:`~tashi.store.base.Store` leadership uses."""

    def acquire_lease(self, name: str, holder: str, duration_s: float) -> Lease | None: ...
    def renew_lease(self, name: str, holder: str, token: int,
                    duration_s: float) -> Lease | None: ...
    def release_lease(self, name: str, holder: str, token: int) -> bool: ...


class Leadership:
    """Whether this replica (``replica``, its id) holds the lease ``name`` of ``store``.

    ``monotonic`` is its clock (injected in tests). :meth:`round` is one renewal or
    acquisition (blocking: the store's call); :meth:`run` does rounds until cancelled.
    """

    def __init__(self, store: LeaseStore, replica: str, *, lease_s: float = LEASE_S,
                 margin_s: float | None = None, retry_s: float | None = None,
                 name: str = LEADER, monotonic: Callable[[], float] = time.monotonic) -> None:
        margin = lease_s / 5 if margin_s is None else margin_s
        if not 0 <= margin < lease_s * 2 / 3:
            raise ValueError(f"a margin of {margin} s leaves no leading in a {lease_s} s "
                             "lease renewed every third of it")
        self.store = store
        self.replica = replica
        self.name = name
        self.lease_s = lease_s
        self.margin_s = margin
        self.renew_every_s = lease_s / 3
        self.retry_s = lease_s / 10 if retry_s is None else retry_s
        self._now = monotonic
        self._lock = threading.Lock()
        self._held: tuple[int, float] | None = None  # (token, leads until: monotonic)
        self._closed = False  # released for good: no round acquires again
        self._wake = asyncio.Event()

    # --- what it says ------------------------------------------------------------------
    def fence(self) -> Fence | None:
        """The fence of this replica's leader writes; None while it does not lead."""
        with self._lock:
            held = self._current()
            return None if held is None else Fence(self.name, self.replica, held[0],
                                                   idle_s=self.lease_s)

    def leads(self) -> bool:
        return self.fence() is not None

    @property
    def token(self) -> int | None:
        """The token of the lease it leads with (None: it does not lead)."""
        fence = self.fence()
        return None if fence is None else fence.token

    def remaining_s(self) -> float:
        """How long it leads from now on unless it renews (0: it does not lead)."""
        with self._lock:
            held = self._current()
            return 0.0 if held is None else held[1] - self._now()

    # --- rounds --------------------------------------------------------------------------
    def round(self) -> float:
        """Renew (holding) or try to acquire (not holding); the seconds until the next."""
        with self._lock:
            held = self._current()
            if self._closed:
                return self.retry_s
        start = self._now()
        try:
            if held is None:
                lease = self.store.acquire_lease(self.name, self.replica, self.lease_s)
            else:
                lease = self.store.renew_lease(self.name, self.replica, held[0],
                                               self.lease_s)
        except Exception as exc:  # noqa: BLE001 (the store is down: lead until the deadline)
            with self._lock:
                left = self._current()
            log.warning("replica %s: lease %r: %s failed (%s: %s); %s", self.replica,
                        self.name, "renewal" if held else "acquisition",
                        type(exc).__name__, exc,
                        f"leading {left[1] - self._now():.1f} s more unless renewed"
                        if left else "not leading")
            return self.retry_s
        with self._lock:
            if not self._closed:
                return self._took(held, lease, start)
        if lease is not None:  # released while this round ran: let it go again
            self.store.release_lease(self.name, self.replica, lease.token)
        return self.retry_s

    def _took(self, held: tuple[int, float] | None, lease: Lease | None,
              start: float) -> float:
        """Note what a round started at ``start`` got (under the lock)."""
        if lease is None:
            if held is not None and self._held is not None:
                self._drop("the lease was taken over or expired (renewal refused)")
            return self.retry_s
        if self._held is None or self._held[0] != lease.token:
            log.info("replica %s leads: lease %r acquired with token %d for %.1f s",
                     self.replica, self.name, lease.token, self.lease_s)
        self._held = (lease.token, start + self.lease_s - self.margin_s)
        return self.renew_every_s

    def release(self) -> None:
        """Let the lease go (if held), so another replica takes it at once; no round
        acquires it again after this."""
        with self._lock:
            held, self._held, self._closed = self._held, None, True
        if held is None:
            return
        try:
            released = self.store.release_lease(self.name, self.replica, held[0])
        except Exception as exc:  # noqa: BLE001 (it expires by itself then)
            log.warning("replica %s: lease %r not released (%s); it expires by itself",
                        self.replica, self.name, exc)
            return
        log.info("replica %s no longer leads: lease %r (token %d) %s", self.replica,
                 self.name, held[0], "released" if released else "had been lost already")

    async def run(self) -> None:
        """Rounds until cancelled (then :meth:`release` is the caller's to call)."""
        while True:
            wait = await asyncio.to_thread(self.round)
            self._changed()
            await asyncio.sleep(wait)

    # --- waiting on it ---------------------------------------------------------------------
    async def until_leading(self) -> Fence:
        """Wait until this replica leads; its fence."""
        while (fence := self.fence()) is None:
            await self._next_change(None)
        return fence

    async def until_lost(self, fence: Fence) -> None:
        """Wait until this replica no longer leads with ``fence``'s token: lost, or its
        deadline passed without a renewal (woken at the deadline itself)."""
        while True:
            now = self.fence()
            if now is None or now.token != fence.token:
                return
            await self._next_change(self.remaining_s())

    # --- inside --------------------------------------------------------------------------
    def _current(self) -> tuple[int, float] | None:
        """The holding (under the lock), dropped once its deadline passed."""
        if self._held is not None and self._now() >= self._held[1]:
            self._drop("not renewed in time")
        return self._held

    def _drop(self, why: str) -> None:
        assert self._held is not None
        log.warning("replica %s no longer leads: lease %r (token %d): %s", self.replica,
                    self.name, self._held[0], why)
        self._held = None

    def _changed(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def _next_change(self, timeout_s: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)


async def while_leading(leadership: Leadership,
                        work: Mapping[str, Callable[[], Coroutine[Any, Any, None]]]) -> None:
    """Run ``work`` (each a name and what makes its coroutine) while ``leadership``
    leads: started on each acquisition in a context fenced with its token, cancelled
    (and awaited) when it no longer leads. Until cancelled."""
    while True:
        fence = await leadership.until_leading()
        context = fenced_context(fence)
        tasks = [asyncio.create_task(make(), name=name, context=context)
                 for name, make in work.items()]
        log.info("replica %s: leader work started with token %d: %s", fence.holder,
                 fence.token, ", ".join(work))
        try:
            await leadership.until_lost(fence)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("replica %s: leader work of token %d stopped", fence.holder,
                     fence.token)
