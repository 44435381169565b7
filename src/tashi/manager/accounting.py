"""Closing usage intervals as they end (:mod:`tashi.domain.accounting`): the manager's
part of accounting.

Every few seconds the manager asks the store to close the intervals that ended at least
a grace ago (the grace lets the agents' last reports of an interval arrive: they send
every minute). The store closes each interval exactly once, in the transaction that
moves its closing mark (:meth:`tashi.store.base.Store.close_usage`), so several
replicas may all run this loop: they take turns, and the late ones find nothing to do.
After downtime the loop catches up, a day of intervals per transaction.
"""

from __future__ import annotations

import asyncio
import logging

from tashi.common.clock import Clock
from tashi.domain.accounting import UsageClosed
from tashi.domain.errors import Conflict
from tashi.store.base import Store

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 150.0  # two and a half of the agents' report intervals (60 s)
CLOSE_EVERY_S = 15.0


class AccountingService:
    def __init__(self, store: Store, clock: Clock, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        self._store = store
        self._clock = clock
        self.grace_s = grace_s

    def use_interval(self, length_s: int) -> int:
        """Cut usage into intervals of ``length_s`` (a store that has records of another
        length keeps it, logged); the length in force."""
        try:
            return self._store.set_usage_interval(length_s)
        except Conflict as exc:
            kept = self._store.usage_closing().length_s
            log.warning("usage intervals stay %d s long, not %d s: %s", kept, length_s,
                        exc.message)
            return kept

    def close_due(self) -> int:
        """Close every interval that is due; how many were closed."""
        total = 0
        while True:
            done: UsageClosed = self._store.close_usage(self._clock.now(), self.grace_s)
            total += done.intervals
            if done.intervals == 0:
                break
            log.info("usage: %d interval(s) of %d s closed, up to %s", done.intervals,
                     done.length_s, done.closed_until.isoformat() if done.closed_until
                     else "-")
        return total

    def lag_s(self) -> float | None:
        """How long ago the last closed interval ended (None: none closed yet)."""
        closed = self._store.usage_closing().closed_until
        return None if closed is None else (self._clock.now() - closed).total_seconds()


async def accounting_loop(service: AccountingService, every_s: float = CLOSE_EVERY_S) -> None:
    while True:
        try:
            await asyncio.to_thread(service.close_due)
        except Exception:  # the store may be down a while: try again next time
            log.exception("usage: closing intervals failed; retrying in %.0f s", every_s)
        await asyncio.sleep(every_s)
