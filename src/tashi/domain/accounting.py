"""Accounting: what each instance held (allocated) and used (consumed), per interval.

Two sources, each counted exactly once:

- **Allocated** figures come from the *ledger*: one allocation per claim an instance
  held (:mod:`tashi.domain.claims`) from the moment it was taken to the moment it was
  let go, written in the same transaction as the claim, so the ledger says to the
  second what was held, where. A paused instance still holds its claim (it counts); a
  suspended one holds none on any host, but its saved state takes room in the suspend
  directory: it counts as an allocation of disk only, on host ``""``.
- **Consumed** figures come from the agents' usage reports: each report's cumulative
  counters minus the ones before (:mod:`tashi.domain.usage`), added to the record of
  the interval it was measured in. A report carries its agent's sequence number; one
  re-sent or older is refused, so none counts twice.

Time is cut into intervals of one length (:data:`DEFAULT_INTERVAL_S`, one that divides a
day, so days and months are sums of whole intervals), in UTC, aligned on the epoch. An
interval *closes* once it is over (plus a grace for late reports): its allocated
figures are computed from the ledger and written, once, in the transaction that moves
the store's closing mark past it. Consumption reported after its interval closed is
added to the open interval it arrived in.

Times here are epoch seconds (float): the arithmetic the SQL store does in SQL too.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tashi.domain.errors import InvalidInput

DEFAULT_INTERVAL_S = 3600
DAY_S = 86_400


def check_interval(length_s: int) -> int:
    """``length_s`` if it can be an interval's length (it divides a day), else InvalidInput."""
    if isinstance(length_s, bool) or not isinstance(length_s, int) or not (
            1 <= length_s <= DAY_S and DAY_S % length_s == 0):
        raise InvalidInput(f"a usage interval must be a whole number of seconds dividing "
                           f"a day ({DAY_S}), got {length_s!r}")
    return length_s


def interval_start(t: float, length_s: int) -> float:
    """The start of the interval of length ``length_s`` that holds the moment ``t``."""
    return float(int(t // length_s) * length_s)


def day_start(t: float) -> float:
    """The start of the UTC day that holds ``t``."""
    return interval_start(t, DAY_S)


@dataclass(frozen=True, slots=True)
class Held:
    """One allocation of the ledger: ``cores``, ``memory_mib`` and ``disk_gib`` held on
    ``host`` from ``since`` to ``until`` (None: held still)."""

    instance_id: int
    host: str
    cores: int
    memory_mib: int
    disk_gib: int
    since: float
    until: float | None


def overlap_s(held: Held, start: float, end: float) -> float:
    """How many seconds of [start, end) ``held`` was held (an open one: up to ``end``)."""
    until = end if held.until is None else min(held.until, end)
    return max(0.0, until - max(held.since, start))


@dataclass(frozen=True, slots=True)
class Allocated:
    """Allocated figures of one instance on one host for one interval."""

    core_seconds: float = 0.0
    memory_mib_seconds: float = 0.0
    disk_gib_seconds: float = 0.0

    def plus(self, held: Held, seconds: float) -> Allocated:
        return Allocated(self.core_seconds + held.cores * seconds,
                         self.memory_mib_seconds + held.memory_mib * seconds,
                         self.disk_gib_seconds + held.disk_gib * seconds)


def allocated(ledger: list[Held], start: float, end: float) -> dict[tuple[int, str], Allocated]:
    """The allocated figures of [start, end) per (instance id, host), from ``ledger``."""
    out: dict[tuple[int, str], Allocated] = {}
    for held in ledger:
        seconds = overlap_s(held, start, end)
        if seconds > 0:
            key = (held.instance_id, held.host)
            out[key] = out.get(key, Allocated()).plus(held, seconds)
    return out


@dataclass(frozen=True, slots=True)
class UsageClosed:
    """What one call of :meth:`tashi.store.base.Store.close_usage` did."""

    intervals: int  # how many it closed
    closed_until: datetime | None  # the end of the last closed interval (None: none)
    length_s: int  # of each interval
