"""Usage reports through the real API (``GET /api/v1/usage``), on sqlite and on
PostgreSQL, over the month's end of :mod:`tests.integration.usage_ledger`: the
records its ledger closed, summed per interval, hour, day and month, per instance,
user and host, paged, and who may see whose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tashi.api.schemas import UsageRowOut
from tashi.client import TashiClient
from tashi.domain.errors import Forbidden, InvalidInput
from tests.integration.conftest import Rig, raw_client, start_rig
from tests.integration.usage_ledger import CLOSED_UNTIL, GIB, fill

NOV_29, NOV_30, DEC_1 = (datetime(2030, m, d, tzinfo=UTC) for m, d in ((11, 29), (11, 30),
                                                                        (12, 1)))
NOV = datetime(2030, 11, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    """The manager, on a store the ledger's usage was written into before it started."""
    url = (request.getfixturevalue("postgres").new_database()
           if request.param == "postgresql" else f"sqlite:///{tmp_path}/tashi.db")
    fill(url)
    r, server, serving = await start_rig(tmp_path, store_url=url)
    assert await asyncio.to_thread(r.core.accounting.close_due) == 0  # nothing due in 2030
    yield r
    await stop(r, server, serving)


async def stop(r: Rig, server: Any, serving: asyncio.Task[None]) -> None:
    """:func:`stop_rig`, but the store is closed only once the manager's loops' last
    calls (threads of the default executor) are over: one still reading when the store
    closes would leave its connection to be garbage-collected open, warning in a later
    test (these tests are short and many, so it happens)."""
    for c in [r.admin, *r.clients]:
        await c.aclose()
    r.core.notifier.close()
    server.should_exit = True
    await serving
    await asyncio.get_running_loop().shutdown_default_executor()
    r.core.store.close()


async def user(rig: Rig, name: str) -> TashiClient:
    return rig.client((await rig.admin.add_user(name, "user")).token)


def cells(rows: list[UsageRowOut], *names: str) -> list[tuple[Any, ...]]:
    return [tuple(getattr(r, n) for n in names) for r in rows]


async def test_by_interval_are_the_records_each_hour_to_the_second(rig: Rig) -> None:
    page = await rig.admin.usage()
    assert page.closed_until == CLOSED_UNTIL
    assert page.next is None
    assert cells(page.rows, "start", "user", "instance", "host", "core_seconds",
                 "memory_mib_seconds") == [
        (datetime(2030, 11, 29, 10, tzinfo=UTC), "bob", "batch", "node1", 3600.0, 1843200.0),
        (datetime(2030, 11, 29, 11, tzinfo=UTC), "bob", "batch", "node1", 3600.0, 1843200.0),
        (datetime(2030, 11, 30, 22, tzinfo=UTC), "alice", "web", "node1", 7200.0, 3686400.0),
        (datetime(2030, 11, 30, 23, tzinfo=UTC), "alice", "web", "node1", 7200.0, 3686400.0),
        (datetime(2030, 11, 30, 23, tzinfo=UTC), "alice", "db", "node2", 14400.0, 7372800.0),
        (datetime(2030, 12, 1, 0, tzinfo=UTC), "alice", "web", "node1", 7200.0, 3686400.0),
        (datetime(2030, 12, 1, 0, tzinfo=UTC), "alice", "db", "node2", 7200.0, 3686400.0),
        (datetime(2030, 12, 1, 1, tzinfo=UTC), "alice", "web", "node1", 3600.0, 1843200.0),
    ]
    assert [r.end - r.start for r in page.rows] == [page.rows[0].end - page.rows[0].start] * 8
    web = [r for r in page.rows if r.instance == "web"]
    assert sum(r.core_seconds for r in web) / 3600 == 7.0  # 22:00 → 01:30, 2 cores
    assert cells(web[1:3], "cpu_seconds_used", "disk_read_bytes", "disk_written_bytes",
                 "net_rx_bytes", "net_tx_bytes") == [(100.5, 1000, 2000, 3 * GIB, GIB),
                                                    (20.0, 10, 20, GIB, GIB)]
    assert web[0].net_rx_bytes is None  # nothing measured in that hour


async def test_by_hour_per_user_sums_the_instances_of_each_hour(rig: Rig) -> None:
    page = await rig.admin.usage(by="hour", per="user", start=NOV_30)
    assert cells(page.rows, "start", "user", "instance", "host", "core_seconds",
                 "cpu_seconds_used", "net_rx_bytes", "net_tx_bytes") == [
        (datetime(2030, 11, 30, 22, tzinfo=UTC), "alice", None, None, 7200.0, 0.0, None, None),
        (datetime(2030, 11, 30, 23, tzinfo=UTC), "alice", None, None, 21600.0, 100.5,
         3 * GIB, GIB),
        (datetime(2030, 12, 1, 0, tzinfo=UTC), "alice", None, None, 14400.0, 70.0, GIB, GIB),
        (datetime(2030, 12, 1, 1, tzinfo=UTC), "alice", None, None, 3600.0, 0.0, None, None),
    ]


async def test_by_day_cuts_at_midnight_and_the_last_day_ends_at_the_closing(
        rig: Rig) -> None:
    page = await rig.admin.usage(by="day")
    assert cells(page.rows, "start", "end", "instance", "host", "core_seconds",
                 "cpu_seconds_used", "disk_read_bytes", "net_rx_bytes") == [
        (NOV_29, NOV_30, "batch", "node1", 7200.0, 10.0, 100, GIB),
        (NOV_30, DEC_1, "web", "node1", 14400.0, 100.5, 1000, 3 * GIB),
        (NOV_30, DEC_1, "db", "node2", 14400.0, 0.0, 0, None),
        (DEC_1, CLOSED_UNTIL, "web", "node1", 10800.0, 20.0, 10, GIB),
        (DEC_1, CLOSED_UNTIL, "db", "node2", 7200.0, 50.0, 5, None),
    ]
    hosts = await rig.admin.usage(by="day", per="host", start=NOV_30, end=DEC_1)
    assert cells(hosts.rows, "start", "user", "host", "core_seconds", "memory_mib_seconds") == [
        (NOV_30, None, "node1", 14400.0, 7372800.0), (NOV_30, None, "node2", 14400.0, 7372800.0)]


async def test_by_month_cuts_at_the_months_end(rig: Rig) -> None:
    users = await rig.admin.usage(by="month", per="user")
    assert cells(users.rows, "start", "end", "user", "core_seconds", "memory_mib_seconds",
                 "cpu_seconds_used", "disk_written_bytes", "net_rx_bytes", "net_tx_bytes") == [
        (NOV, DEC_1, "alice", 28800.0, 14745600.0, 100.5, 2000, 3 * GIB, GIB),
        (NOV, DEC_1, "bob", 7200.0, 3686400.0, 10.0, 200, GIB, 0),
        (DEC_1, CLOSED_UNTIL, "alice", 18000.0, 9216000.0, 70.0, 26, GIB, GIB),
    ]
    hosts = await rig.admin.usage(by="month", per="host", host="node1", end=DEC_1)
    assert cells(hosts.rows, "host", "core_seconds", "net_rx_bytes") == [
        ("node1", 21600.0, 4 * GIB)]
    web = await rig.admin.usage(by="month", instance="web")
    assert cells(web.rows, "start", "instance", "core_seconds") == [
        (NOV, "web", 14400.0), (DEC_1, "web", 10800.0)]


@pytest.mark.parametrize(("by", "per"), [(None, "instance"), ("hour", "user"),
                                         ("day", "instance"), ("day", "host"),
                                         ("month", "instance")])
async def test_walking_every_page_gives_the_unpaged_report(rig: Rig, by: str | None,
                                                           per: str) -> None:
    whole = await rig.admin.usage(by=by, per=per)
    pages, after = [], None
    while True:
        page = await rig.admin.usage(by=by, per=per, limit=2, after=after)
        pages.append(page.rows)
        if page.next is None:
            break
        after = page.next
    assert all(len(p) == 2 for p in pages[:-1])
    assert [r for p in pages for r in p] == whole.rows
    assert [r async for r in rig.admin.usage_rows(by=by, per=per, limit=1)] == whole.rows
    assert sum(r.core_seconds for r in whole.rows) == 15 * 3600.0  # 2 + 7 + 6 core-hours


async def test_a_user_sees_only_their_own(rig: Rig) -> None:
    alice, bob = await user(rig, "alice"), await user(rig, "bob")
    mine = await bob.usage(by="month", per="user")
    assert cells(mine.rows, "user", "core_seconds") == [("bob", 7200.0)]
    assert {r.user for r in (await alice.usage()).rows} == {"alice"}
    assert (await alice.usage(user="alice", by="day", per="user")).rows[0].core_seconds == 28800
    with pytest.raises(Forbidden, match="user bob may see only its own usage, not alice's"):
        await bob.usage(user="alice")
    admins = await rig.admin.usage(user="bob", by="day")
    assert cells(admins.rows, "user", "instance") == [("bob", "batch")]


@pytest.mark.parametrize(("params", "says"), [
    ({"from": "2030-11-30T00:00:00"}, "has no time zone"),
    ({"from": "2030-12-01T00:00:00Z", "to": "2030-11-01T00:00:00Z"}, "is not before end"),
    ({"by": "day", "from": "2030-11-30T10:00:00Z"}, "is not the start of a day (UTC)"),
    ({"by": "month", "to": "2030-11-02T00:00:00Z"}, "is not the start of a month (UTC)"),
    ({"from": "2030-11-30T10:30:00Z"}, "is not the start of a usage interval (3600 s)"),
    ({"after": "bm90IGEgY3Vyc29y"}, "is not a cursor of this report (by interval, per instance)"),
    ({"after": "!!"}, "is not a cursor"),
    ({"to": "9999-12-31T23:00:00-01:00"}, "is out of range (1970 to 8999)"),
])
async def test_bad_input_is_a_400_with_a_reason(rig: Rig, params: dict[str, str],
                                                says: str) -> None:
    await refused(rig, params, 400, says)


@pytest.mark.parametrize(("params", "says"), [
    ({"by": "week"}, "by: Input should be 'hour', 'day' or 'month'"),
    ({"per": "group"}, "per: Input should be 'instance', 'user' or 'host'"),
    ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
    ({"limit": "10001"}, "limit: Input should be less than or equal to 10000"),
    ({"from": "yesterday"}, "from: Input should be a valid datetime"),
    ({"after": "x" * 1025}, "after: String should have at most 1024 characters"),
])
async def test_malformed_parameters_are_a_422_with_a_reason(rig: Rig, params: dict[str, str],
                                                            says: str) -> None:
    await refused(rig, params, 422, says)


async def refused(rig: Rig, params: dict[str, str], status: int, says: str) -> None:
    async with raw_client(rig.url, headers={"Authorization": f"Bearer {rig.admin_token}"}
                          ) as http:
        resp = await http.get("/api/v1/usage", params=params)
    assert resp.status_code == status, resp.text
    assert says in resp.json()["message"]


async def test_a_cursor_of_another_report_is_refused(rig: Rig) -> None:
    page = await rig.admin.usage(by="day", limit=1)
    assert page.next is not None
    with pytest.raises(InvalidInput,
                       match=r"not a cursor of this report \(by month, per instance\)"):
        await rig.admin.usage(by="month", after=page.next)
    with pytest.raises(InvalidInput, match=r"not a cursor of this report \(by day, per user\)"):
        await rig.admin.usage(by="day", per="user", after=page.next)
