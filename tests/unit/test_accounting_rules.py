"""The arithmetic of accounting (:mod:`tashi.domain.accounting`), on its own."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tashi.domain.accounting import (
    Held,
    allocated,
    check_interval,
    day_start,
    interval_start,
    overlap_s,
)
from tashi.domain.errors import InvalidInput

T = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()


def held(since: float, until: float | None, host: str = "node1") -> Held:
    return Held(1, host, 2, 1024, 10, since, until)


def test_intervals_divide_a_day() -> None:
    for ok in (1, 60, 600, 3600, 86400):
        assert check_interval(ok) == ok
    for bad in (0, -60, 7, 7200 * 5, 86401, True):
        with pytest.raises(InvalidInput, match="dividing a day"):
            check_interval(bad)


def test_interval_and_day_starts_are_utc_and_epoch_aligned() -> None:
    assert datetime.fromtimestamp(interval_start(T + 59, 3600), UTC).minute == 0
    assert interval_start(T, 1800) == T
    assert datetime.fromtimestamp(day_start(T), UTC) == datetime(2026, 11, 30, tzinfo=UTC)


@pytest.mark.parametrize(("since", "until", "seconds"), [
    (T - 100, T + 100, 100.0),  # began before the interval
    (T + 10, T + 20, 10.0),  # inside it
    (T + 1000, None, 800.0),  # open: held to the interval's end
    (T - 50, T, 0.0),  # ended as it began
    (T + 1800, None, 0.0),  # began as it ended
    (T + 5, T + 5, 0.0),  # held no time at all
])
def test_overlap(since: float, until: float | None, seconds: float) -> None:
    assert overlap_s(held(since, until), T, T + 1800) == seconds


def test_allocated_sums_per_instance_and_host() -> None:
    ledger = [held(T, T + 600), held(T + 600, None), held(T + 900, None, "node2")]
    got = allocated(ledger, T, T + 1800)
    assert got[1, "node1"].core_seconds == 2 * 1800
    assert got[1, "node1"].memory_mib_seconds == 1024 * 1800
    assert got[1, "node2"].disk_gib_seconds == 10 * 900
    assert allocated(ledger, T - 1800, T) == {}
