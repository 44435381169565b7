"""Failed secret checks (passwords at login, join tokens), per name and per client
address, in memory: past a limit, attempts are refused for a period that doubles."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from tashi.common.clock import Clock
from tashi.domain.errors import RateLimited


@dataclass
class _Failures:
    count: int
    last: datetime


class LoginLimiter:
    """Failed password checks, per user name and per client address, in memory.

    A key with ``limit`` failures or more is blocked until ``base_s * 2**(failures -
    limit)`` seconds (at most ``max_s``) after its last failure; attempts while blocked
    are refused unchecked and uncounted. A key quiet for ``forget_s`` starts over.
    An attempt counts as a failure from its start (:meth:`attempt`) until it is known
    to have succeeded (:meth:`succeeded`), so parallel guesses cannot pass the limit.
    """

    def __init__(self, clock: Clock, *, per_user: int = 5, per_address: int = 20,
                 base_s: float = 30.0, max_s: float = 3600.0, forget_s: float = 86400.0,
                 max_keys: int = 100_000, what: str = "logins", subject: str = "user") -> None:
        self._clock = clock
        self._what, self._subject = what, subject  # for messages: "failed joins ... host"
        self._limits = {"user": per_user, "address": per_address}
        self._base_s, self._max_s, self._forget_s = base_s, max_s, forget_s
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], _Failures] = {}
        self._lock = threading.Lock()

    def attempt(self, user: str, address: str) -> None:
        """Count an attempt; RateLimited (counting nothing) if the user or address is blocked."""
        now = self._clock.now()
        keys = (("user", user), ("address", address))
        with self._lock:
            self._refuse_if_blocked(keys, now)
            for key in keys:
                self._count(key, now)

    def check(self, user: str, address: str) -> None:
        """RateLimited if the user or address is blocked; counts nothing. For a secret
        checked at once (a join token): call :meth:`failed` if it was wrong. Unlike
        :meth:`attempt`, attempts in flight do not count, so many right ones from one
        address at once (hosts joining behind one NAT) are not refused."""
        with self._lock:
            self._refuse_if_blocked((("user", user), ("address", address)), self._clock.now())

    def failed(self, user: str, address: str) -> None:
        """Count a failed attempt."""
        now = self._clock.now()
        with self._lock:
            for key in (("user", user), ("address", address)):
                self._count(key, now)

    def _refuse_if_blocked(self, keys: tuple[tuple[str, str], ...], now: datetime) -> None:
        for key in keys:
            wait_s = self._blocked_for(key, now)
            if wait_s > 0:
                noun = self._subject if key[0] == "user" else key[0]
                raise RateLimited(f"too many failed {self._what} for this {noun}; "
                                  f"try again in {math.ceil(wait_s)} s")

    def forgive(self, user: str, address: str) -> None:
        """The attempt could not be checked (a user source was down): it does not count."""
        with self._lock:
            for key in (("user", user), ("address", address)):
                entry = self._failures.get(key)
                if entry is not None:
                    entry.count -= 1

    def succeeded(self, user: str, address: str) -> None:
        """The attempt was right: the user starts over, the address gets its attempt back."""
        with self._lock:
            self._failures.pop(("user", user), None)
            entry = self._failures.get(("address", address))
            if entry is not None:
                entry.count -= 1

    def _blocked_for(self, key: tuple[str, str], now: datetime) -> float:
        entry = self._failures.get(key)
        if entry is None:
            return 0.0
        if now - entry.last > timedelta(seconds=self._forget_s):
            del self._failures[key]
            return 0.0
        over = entry.count - self._limits[key[0]]
        if over < 0:
            return 0.0
        period = min(self._max_s, self._base_s * 2.0 ** min(over, 62))
        return (entry.last + timedelta(seconds=period) - now).total_seconds()

    def _count(self, key: tuple[str, str], now: datetime) -> None:
        entry = self._failures.pop(key, None) or _Failures(0, now)
        entry.count, entry.last = entry.count + 1, now
        self._failures[key] = entry  # re-inserted: the dict stays oldest-first
        while len(self._failures) > self._max_keys:
            del self._failures[next(iter(self._failures))]
