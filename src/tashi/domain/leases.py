"""Leases: work done by one manager replica at a time (see :mod:`tashi.manager.leadership`).

A lease is a row of the store: its name, its holder (a replica's id), a fencing token
and when it expires, by the *database's* clock (replicas' clocks never matter). Taking a
lease that is free or expired gives a token one past the last; the holder renews it
with that token; a write fenced by the token (:mod:`tashi.store.fencing`) fails once
another replica took the lease over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: The lease of the manager's once-only work (liveness, retries, HA restarts, evacuations,
#: closing usage intervals).
LEADER = "manager-leader"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str  # the replica id of its holder (the last one, once expired or released)
    token: int  # one more on every new acquisition; 0: never held
    expires_at: datetime  # by the database's clock, UTC


@dataclass(frozen=True, slots=True)
class Fence:
    """What a fenced write checks: ``name`` is still held by ``holder`` with ``token``.
    ``idle_s``: how long a fenced PostgreSQL transaction may sit idle before the server
    ends it (so a holder cut off mid-transaction cannot keep the lease row locked)."""

    name: str
    holder: str
    token: int
    idle_s: float = 10.0
