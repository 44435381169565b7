"""Recent answers to "whose token is this?", kept briefly.

Every API call asks it, and most calls are agents' heartbeats and reports: thousands
a minute on a large cluster, each a query without this. An answer is kept for
``ttl_s`` seconds and never past its token's expiry; unknown tokens are not kept
(they are asked of the store each time). The store clears every answer whenever it
changes tokens or users (a token revoked, a user deleted or given another role), so
a revoked token is refused at once by this manager; another manager sharing the
database refuses it within ``ttl_s``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from tashi.domain.models import Principal

DEFAULT_TTL_S = 2.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    until: float  # time.monotonic()
    expires_at: datetime | None  # the token's


class PrincipalCache:
    def __init__(self, ttl_s: float = DEFAULT_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # bumped by clear(): an answer read before it is not kept

    @property
    def epoch(self) -> int:
        return self._epoch

    def get(self, token_hash: str, now: datetime) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry.until < time.monotonic() or (entry.expires_at is not None
                                                and entry.expires_at <= now):
            with self._lock:
                self._entries.pop(token_hash, None)
            return None
        return entry.principal

    def put(self, token_hash: str, principal: Principal, expires_at: datetime | None,
            epoch: int) -> None:
        """Keep an answer read from the store when :attr:`epoch` was ``epoch``."""
        with self._lock:
            if epoch != self._epoch:  # cleared while it was being read: it may be stale
                return
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = _Entry(principal, time.monotonic() + self._ttl_s,
                                               expires_at)

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
