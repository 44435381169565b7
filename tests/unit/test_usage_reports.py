"""Usage report queries (:mod:`tashi.domain.usage_reports`): what they refuse, their
periods, and their cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tashi.domain.errors import InvalidInput
from tashi.domain.usage_reports import (
    Cursor,
    Per,
    Period,
    Periods,
    UsageQuery,
    decode_cursor,
    encode_cursor,
)

NOV = datetime(2030, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(("asked", "says"), [
    ({"start": datetime(2030, 11, 1)}, "start 2030-11-01T00:00:00 has no time zone"),
    ({"start": NOV, "end": NOV}, "is not before end"),
    ({"limit": 0}, "limit must be 1 to 10000, not 0"),
    ({"limit": 10001}, "limit must be 1 to 10000, not 10001"),
    ({"limit": True}, "limit must be 1 to 10000, not True"),
    ({"end": datetime(1969, 12, 31, tzinfo=UTC)}, "is out of range"),
])
def test_a_query_refuses(asked: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        UsageQuery(**asked)  # type: ignore[arg-type]


def test_hours_need_intervals_dividing_an_hour() -> None:
    UsageQuery(by=Period.HOUR).check(60)
    with pytest.raises(InvalidInput, match="usage intervals are 7200 s long, longer than"):
        UsageQuery(by=Period.HOUR).check(7200)
    UsageQuery(by=Period.DAY).check(7200)


@pytest.mark.parametrize(("by", "start", "ok"), [
    (Period.MONTH, NOV, True), (Period.MONTH, NOV + timedelta(days=1), False),
    (Period.DAY, NOV + timedelta(days=1), True), (Period.DAY, NOV + timedelta(hours=1), False),
    (Period.HOUR, NOV + timedelta(hours=1), True),
    (Period.HOUR, NOV + timedelta(minutes=1), False),
    (None, NOV + timedelta(minutes=15), True), (None, NOV + timedelta(minutes=5), False),
    # a zone other than UTC, on the same moment, is as good
    (Period.DAY, datetime(2030, 11, 1, 1, tzinfo=timezone(timedelta(hours=1))), True),
])
def test_start_and_end_fall_on_period_starts(by: Period | None, start: datetime,
                                             ok: bool) -> None:
    query = UsageQuery(by=by, start=start)
    if ok:
        query.check(900)
    else:
        with pytest.raises(InvalidInput, match="is not the start of"):
            query.check(900)


def test_months_run_to_the_next_month_across_the_year() -> None:
    months = Periods(Period.MONTH, 3600)
    dec = datetime(2030, 12, 1, tzinfo=UTC).timestamp()
    assert months.start_of(dec + 30.5 * 86400) == dec
    assert months.after(dec) == datetime(2031, 1, 1, tzinfo=UTC).timestamp()
    assert months.after(NOV.timestamp()) == dec
    assert Periods(None, 900).after(0.0) == 900.0


def test_a_cursor_comes_back_and_only_to_its_kind_of_report() -> None:
    at = Cursor(NOV.timestamp(), (7, "node1"))
    text = encode_cursor(Period.DAY, Per.INSTANCE, at)
    assert decode_cursor(text, Period.DAY, Per.INSTANCE) == at
    assert UsageQuery(by=Period.DAY, after=text).cursor() == at
    for by, per in ((Period.MONTH, Per.INSTANCE), (Period.DAY, Per.HOST), (None, Per.INSTANCE)):
        with pytest.raises(InvalidInput, match="is not a cursor of this report"):
            decode_cursor(text, by, per)
    users = encode_cursor(None, Per.USER, Cursor(0.0, ("alice",)))
    assert decode_cursor(users, None, Per.USER) == Cursor(0.0, ("alice",))


@pytest.mark.parametrize(("text", "per"), [
    ("", Per.INSTANCE), ("!!", Per.INSTANCE), ("bm90IGEgY3Vyc29y", Per.INSTANCE),
    (encode_cursor(Period.DAY, Per.USER, Cursor(0.0, (1,))), Per.USER),  # not a name
    (encode_cursor(Period.DAY, Per.INSTANCE, Cursor(0.0, ("7", "node1"))), Per.INSTANCE),
    ("A" * 2000, Per.INSTANCE),
    (encode_cursor(Period.DAY, Per.INSTANCE, Cursor(float("nan"), (7, "node1"))),
     Per.INSTANCE),
])
def test_a_malformed_cursor_is_refused(text: str, per: Per) -> None:
    with pytest.raises(InvalidInput, match="is not a cursor of this report"):
        decode_cursor(text, Period.DAY, per)
