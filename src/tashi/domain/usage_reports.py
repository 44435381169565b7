"""Usage reports: the closed usage records (:mod:`tashi.domain.accounting`), summed per
period and per instance, user or host, one page at a time.

A report reads only *closed* intervals (those before the store's closing mark): their
figures are final, so the same question asked twice gets the same answer, and a page
walk never sees a figure change under it. Each answer says up to when it is counted.

- ``by``: the period rows are summed over: ``None`` (each interval's record itself),
  :attr:`Period.HOUR`, :attr:`Period.DAY` or :attr:`Period.MONTH` (UTC). Hours need
  intervals that divide an hour.
- ``per``: what a row is summed for: each instance on each host
  (:attr:`Per.INSTANCE`), each user (:attr:`Per.USER`) or each host (:attr:`Per.HOST`).
- Rows come ordered by (period start, key); ``after`` is the opaque cursor of the last
  row of the page before (:func:`encode_cursor`), so pages never overlap nor skip.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from tashi.domain.accounting import DAY_S
from tashi.domain.errors import InvalidInput

HOUR_S = 3600
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000
MAX_CURSOR = 1024  # characters: a key is a time, an id and two names
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime(9000, 1, 1, tzinfo=UTC)  # a month after still has a year


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


class Per(StrEnum):
    INSTANCE = "instance"
    USER = "user"
    HOST = "host"


#: A row's key within its period: (instance id, host), (user,) or (host,).
Key = tuple[int | str, ...]


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the last row's period start (epoch seconds) and key."""

    start_s: float
    key: Key


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """What a report asks for; every filter None means "any". ``start`` and ``end``
    bound the periods' starts (``start`` <= period start < ``end``) and must fall on
    period boundaries, so that a row is never a part of its period."""

    user: str | None = None
    host: str | None = None
    instance: str | None = None  # its name
    start: datetime | None = None
    end: datetime | None = None
    by: Period | None = None
    per: Per = Per.INSTANCE
    limit: int = DEFAULT_LIMIT
    after: str | None = None  # a cursor from the page before

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            when = getattr(self, name)
            if when is not None and when.utcoffset() is None:
                raise InvalidInput(f"usage report: {name} {when.isoformat()} has no time "
                                   "zone; give one (e.g. Z for UTC)")
            if when is not None and not _EPOCH <= when < _LAST:
                raise InvalidInput(f"usage report: {name} {when.isoformat()} is out of "
                                   f"range ({_EPOCH.year} to {_LAST.year - 1})")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidInput(f"usage report: start {self.start.isoformat()} is not "
                               f"before end {self.end.isoformat()}")
        if isinstance(self.limit, bool) or not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInput(f"usage report: limit must be 1 to {MAX_LIMIT}, "
                               f"not {self.limit!r}")

    def check(self, length_s: int) -> None:
        """Whether this query can be answered from intervals ``length_s`` long: hours
        need intervals dividing an hour; ``start`` and ``end`` must be period starts."""
        if self.by is Period.HOUR and HOUR_S % length_s:
            raise InvalidInput(f"usage report: usage intervals are {length_s} s long, "
                               "longer than (or not dividing) an hour: no hourly report; "
                               "ask by day or month")
        periods = Periods(self.by, length_s)
        for name in ("start", "end"):
            when = getattr(self, name)
            if when is not None and periods.start_of(when.timestamp()) != when.timestamp():
                raise InvalidInput(f"usage report: {name} {when.isoformat()} is not the "
                                   f"start of {periods.said}")

    def cursor(self) -> Cursor | None:
        """The decoded ``after`` (None: the first page); InvalidInput if it is not one
        this query's ``by`` and ``per`` made."""
        return None if self.after is None else decode_cursor(self.after, self.by, self.per)


@dataclass(frozen=True, slots=True)
class Periods:
    """The periods of a report: intervals of ``length_s`` (``by`` None), hours, days
    or months, in UTC, aligned on the epoch (months on their first day)."""

    by: Period | None
    length_s: int

    @property
    def said(self) -> str:
        if self.by is None:
            return f"a usage interval ({self.length_s} s)"
        return f"an {self.by.value}" if self.by is Period.HOUR else f"a {self.by.value} (UTC)"

    def start_of(self, t: float) -> float:
        """The start of the period that holds the moment ``t``."""
        if self.by is Period.MONTH:
            day = datetime.fromtimestamp(t, UTC)
            return datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()
        size = {None: self.length_s, Period.HOUR: HOUR_S, Period.DAY: DAY_S}[self.by]
        return float(int(t // size) * size)

    def after(self, start_s: float) -> float:
        """The start of the period after the one starting at ``start_s``."""
        if self.by is Period.MONTH:
            first = datetime.fromtimestamp(start_s, UTC) + timedelta(days=32)
            return datetime(first.year, first.month, 1, tzinfo=UTC).timestamp()
        size = {None: self.length_s, Period.HOUR: HOUR_S, Period.DAY: DAY_S}[self.by]
        return start_s + size


@dataclass(frozen=True, slots=True)
class UsageReportRow:
    """The sums of one period for one key. ``user``, ``instance`` (its name and id) and
    ``host`` are None when summed over (per user: every instance and host of the user).
    ``end`` is the period's end, or the closing mark when that comes first (the figures
    after it are not counted yet). The network figures are None when no record summed
    had them measured."""

    start: datetime
    end: datetime
    user: str | None
    instance: str | None
    instance_id: int | None
    host: str | None
    core_seconds: float = 0.0
    memory_mib_seconds: float = 0.0
    disk_gib_seconds: float = 0.0
    cpu_seconds_used: float = 0.0
    disk_read_bytes: int = 0
    disk_written_bytes: int = 0
    net_rx_bytes: int | None = None
    net_tx_bytes: int | None = None

    def key(self, per: Per) -> Key:
        """This row's key within its period (what the cursor after it holds)."""
        if per is Per.INSTANCE:
            assert self.instance_id is not None
            assert self.host is not None
            return (self.instance_id, self.host)
        value = self.user if per is Per.USER else self.host
        assert value is not None
        return (value,)


#: The figures of a row, in their order on the wire and in CSV.
FIGURES = ("core_seconds", "memory_mib_seconds", "disk_gib_seconds", "cpu_seconds_used",
           "disk_read_bytes", "disk_written_bytes", "net_rx_bytes", "net_tx_bytes")


@dataclass(frozen=True, slots=True)
class UsagePage:
    """One page of a report: its rows, the cursor of the next page (None: the last),
    and the end of the last closed interval (None: none closed yet, so no rows)."""

    rows: list[UsageReportRow] = field(default_factory=list)
    next: str | None = None
    closed_until: datetime | None = None


def encode_cursor(by: Period | None, per: Per, cursor: Cursor) -> str:
    """The opaque cursor of a page ending at ``cursor`` (URL-safe base64 of JSON)."""
    doc = [by.value if by else "", per.value, cursor.start_s, *cursor.key]
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def decode_cursor(text: str, by: Period | None, per: Per) -> Cursor:
    """The cursor ``text`` encodes; InvalidInput if it is malformed, or was made by a
    query of another ``by`` or ``per`` (its key would mean something else)."""
    bad = InvalidInput(f"usage report: after {text[:40]!r} is not a cursor of this "
                       f"report (by {by.value if by else 'interval'}, per {per.value}); "
                       "pass on the 'next' of the page before")
    try:
        doc = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise bad from None
    if (len(text) > MAX_CURSOR or not isinstance(doc, list) or len(doc) < 4
            or doc[:2] != [by.value if by else "", per.value]):
        raise bad
    start, key = doc[2], tuple(doc[3:])
    if (isinstance(start, bool) or not isinstance(start, int | float)
            or not _EPOCH.timestamp() <= start < _LAST.timestamp() or not _key_ok(per, key)):
        raise bad  # a NaN is in no range
    return Cursor(float(start), key)


def _key_ok(per: Per, key: tuple[object, ...]) -> bool:
    if per is Per.INSTANCE:
        return (len(key) == 2 and isinstance(key[0], int) and not isinstance(key[0], bool)
                and isinstance(key[1], str))
    return len(key) == 1 and isinstance(key[0], str)
