"""Accounting's allocated figures: the ledger kept with the claims, intervals closed
into records once, on SQLite and PostgreSQL, with a clock the test moves.

The instances are driven through the store as the manager drives them (bind, reports
of what the agent saw, unbind), and the records are read back with SQL: what the
ledger and the closing wrote, nothing else.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from tashi.domain.accounting import Held, allocated
from tashi.domain.errors import Conflict, InvalidInput
from tashi.domain.models import Instance, InstanceStatus, NewInstance
from tashi.domain.states import InstanceState, Power
from tashi.store.sql import SqlStore, migrate
from tashi.store.sql.tables import (
    AllocationRow,
    UsageDayRow,
    UsageHostDayRow,
    UsageRecordRow,
    UsageUserDayRow,
)
from tests.integration.test_store_contract import given_images, spec

S = InstanceState
T0 = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)  # a Monday, 10:00:00 UTC
HOUR = 3600.0


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = at


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tashi.db"
    return str(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[SqlStore]:
    migrate(url)
    opened = SqlStore(url, clock=clock)
    opened.create_host("node1", cores=64, memory_mib=262144)
    opened.create_host("node2", cores=64, memory_mib=262144)
    try:
        yield opened
    finally:
        opened.close()


def create(store: SqlStore, name: str = "web", cores: int = 2) -> Instance:
    return store.create_instance(*given_images(
        store, NewInstance(name=name, owner="alice", spec=spec(cores=cores, memory_mib=1024))))


def bind(store: SqlStore, inst: Instance, host: str) -> Instance:
    current = store.get_instance(inst.id)
    return store.update_instance(inst.id, generation=current.generation,
                                 spec=replace(current.spec, host=host))


def observe(store: SqlStore, inst: Instance, observed: str, **status: object) -> Instance:
    return store.set_instance_status(inst.id, InstanceStatus(observed, **status))  # type: ignore[arg-type]


def records(store: SqlStore, table: type[UsageRecordRow] | type[UsageDayRow] = UsageRecordRow
            ) -> list[tuple[int, str, datetime, float, float, float]]:
    """(instance id, host, start, core-s, MiB-s, GiB-s) of every record, in order."""
    with store._read.begin() as s:  # what the closing wrote, as it is
        rows = s.execute(select(table.instance_id, table.host, table.start_s,
                                table.core_seconds, table.memory_mib_seconds,
                                table.disk_gib_seconds)
                         .order_by(table.start_s, table.instance_id, table.host))
        return [(i, h, datetime.fromtimestamp(t, UTC), c, m, d) for i, h, t, c, m, d in rows]


def close_at(store: SqlStore, clock: Clock, at: datetime) -> int:
    clock.set(at)
    total = 0
    while (done := store.close_usage(at, grace_s=120).intervals):
        total += done
    return total


def test_two_cores_from_ten_to_half_past_twelve_count_five_core_hours(
        store: SqlStore, clock: Clock) -> None:
    web = create(store)
    bind(store, web, "node1")  # 10:00:00: its claim taken
    clock.set(T0 + timedelta(seconds=4))
    assert observe(store, web, "running", ran=True).state is S.RUNNING
    clock.set(T0 + timedelta(hours=2, minutes=30))  # 12:30:00: seen stopped, released
    assert observe(store, web, "stopped", ran=True, ended=True).state is S.EXITED

    close_at(store, clock, T0 + timedelta(hours=3, minutes=1))  # 13:01, < 13:00 + grace
    assert [(r[2].hour, r[3]) for r in records(store)] == [(10, 7200.0), (11, 7200.0)]
    close_at(store, clock, T0 + timedelta(hours=3, minutes=3))
    rows = records(store)
    assert [(r[1], r[2].hour, r[3]) for r in rows] == [
        ("node1", 10, 7200.0), ("node1", 11, 7200.0), ("node1", 12, 3600.0)]
    assert sum(r[3] for r in rows) / HOUR == 5.0  # core-hours, to the second
    assert sum(r[4] for r in rows) == 1024 * 9000  # MiB-seconds
    assert [(r[2].day, r[3]) for r in records(store, UsageDayRow)] == [(2, 18000.0)]


def test_bound_by_the_scheduler_counts_from_the_binding(store: SqlStore, clock: Clock) -> None:
    from tashi.store.binding import Binding

    web = create(store)
    clock.set(T0 + timedelta(minutes=15))
    [result] = store.bind_instances([Binding(web.id, "node1", web.generation)])
    assert result.error is None, result.error
    close_at(store, clock, T0 + timedelta(hours=1, minutes=5))
    assert [(r[1], r[3]) for r in records(store)] == [("node1", 2 * 2700.0)]


def test_paused_counts_suspended_counts_its_saved_disk_only(store: SqlStore,
                                                            clock: Clock) -> None:
    web = create(store, cores=4)
    bind(store, web, "node1")
    observe(store, web, "running", ran=True)
    clock.set(T0 + timedelta(minutes=20))
    web = store.get_instance(web.id)
    store.update_instance(web.id, generation=web.generation,
                          spec=replace(web.spec, power=Power.PAUSED))
    assert observe(store, web, "paused", ran=True).state is S.PAUSED
    clock.set(T0 + timedelta(minutes=30))  # suspended at 10:30: saved, then unbound
    web = store.get_instance(web.id)
    store.update_instance(web.id, generation=web.generation,
                          spec=replace(web.spec, power=Power.SUSPENDED))
    observe(store, web, "suspended", ran=True, saved=True)
    web = store.get_instance(web.id)
    unbound = store.update_instance(web.id, generation=web.generation,
                                    spec=replace(web.spec, host=None),
                                    status=replace(web.status, saved=True))
    assert unbound.state is S.SUSPENDED
    close_at(store, clock, T0 + timedelta(hours=1, minutes=5))
    saved_gib = web.spec.resources.disk_gib + 1  # its disks and 1 GiB of memory
    assert [(r[1], r[3], r[4], r[5]) for r in records(store)] == [
        ("", 0.0, 0.0, saved_gib * 1800.0),  # 10:30-11:00 in the suspend directory
        ("node1", 4 * 1800.0, 1024 * 1800.0, web.spec.resources.disk_gib * 1800.0)]


def test_a_move_counts_each_host_on_its_own(store: SqlStore, clock: Clock) -> None:
    web = create(store)
    bind(store, web, "node1")
    observe(store, web, "running", ran=True)
    clock.set(T0 + timedelta(minutes=40))
    web = store.get_instance(web.id)
    store.update_instance(web.id, generation=web.generation, spec=replace(web.spec, host=None))
    bind(store, web, "node2")
    close_at(store, clock, T0 + timedelta(hours=1, minutes=5))
    assert [(r[1], r[3]) for r in records(store)] == [("node1", 2 * 2400.0),
                                                      ("node2", 2 * 1200.0)]


@pytest.mark.parametrize("edge", [datetime(2026, 11, 2, tzinfo=UTC),  # a midnight
                                  datetime(2026, 12, 1, tzinfo=UTC)])  # a month's end
def test_an_interval_across_midnight_and_a_month_end(store: SqlStore, clock: Clock,
                                                     edge: datetime) -> None:
    clock.set(edge - timedelta(minutes=30))
    web = create(store, cores=1)
    bind(store, web, "node1")
    clock.set(edge + timedelta(minutes=45))
    observe(store, web, "stopped", ran=True, ended=True)
    close_at(store, clock, edge + timedelta(hours=2))
    assert [(r[2], r[3]) for r in records(store)] == [
        (edge - timedelta(hours=1), 1800.0), (edge, 2700.0)]
    assert [(r[2], r[3]) for r in records(store, UsageDayRow)] == [
        (edge - timedelta(days=1), 1800.0), (edge, 2700.0)]


def test_a_users_and_a_hosts_days_sum_their_instances_days(store: SqlStore,
                                                            clock: Clock) -> None:
    web, db = create(store, "web", cores=2), create(store, "db", cores=4)
    bind(store, web, "node1")
    bind(store, db, "node2")
    other = store.create_instance(*given_images(store, NewInstance(
        name="batch", owner="bob", spec=spec(cores=1, memory_mib=512))))
    bind(store, other, "node1")
    close_at(store, clock, T0 + timedelta(days=1, hours=3))  # into the next day
    day = T0.replace(hour=0).timestamp()
    with store._read.begin() as s:
        users = s.execute(select(UsageUserDayRow.start_s, UsageUserDayRow.user_name,
                                 UsageUserDayRow.core_seconds)
                          .order_by(UsageUserDayRow.start_s, UsageUserDayRow.user_name)).all()
        hosts = s.execute(select(UsageHostDayRow.start_s, UsageHostDayRow.host,
                                 UsageHostDayRow.memory_mib_seconds)
                          .order_by(UsageHostDayRow.start_s, UsageHostDayRow.host)).all()
    today, tomorrow = 14 * HOUR, 12 * HOUR  # 10:00 to midnight, then to 12:00 (closed)
    assert [tuple(u) for u in users] == [
        (day, "alice", 6 * today), (day, "bob", 1 * today),
        (day + 86400, "alice", 6 * tomorrow), (day + 86400, "bob", 1 * tomorrow)]
    assert [tuple(h) for h in hosts] == [
        (day, "node1", (1024 + 512) * today), (day, "node2", 1024 * today),
        (day + 86400, "node1", (1024 + 512) * tomorrow), (day + 86400, "node2", 1024 * tomorrow)]


def test_deleting_an_instance_ends_what_it_held(store: SqlStore, clock: Clock) -> None:
    web = bind(store, create(store), "node1")
    clock.set(T0 + timedelta(minutes=10))
    store.delete_instance(web.id, generation=web.generation)
    close_at(store, clock, T0 + timedelta(hours=2))
    assert [(r[0], r[3]) for r in records(store)] == [(web.id, 1200.0)]


def test_closing_again_or_after_a_restart_counts_nothing_twice(
        url: str, store: SqlStore, clock: Clock) -> None:
    web = bind(store, create(store), "node1")
    first = close_at(store, clock, T0 + timedelta(hours=5))
    assert first == 4
    assert close_at(store, clock, T0 + timedelta(hours=5)) == 0
    before = records(store)
    reopened = SqlStore(url, clock=clock)  # another process, or the same one restarted
    try:
        assert close_at(reopened, clock, T0 + timedelta(hours=5, minutes=1)) == 0
        assert records(reopened) == before
        assert close_at(reopened, clock, T0 + timedelta(hours=6, minutes=3)) == 2  # to 16:00
    finally:
        reopened.close()
    assert [r[3] for r in records(store)] == [7200.0] * 6
    assert store.get_instance(web.id).state is S.ACTIVATING  # still held: still counted


def test_replicas_closing_at_once_close_each_interval_once(url: str, store: SqlStore,
                                                           clock: Clock) -> None:
    for n in range(5):
        bind(store, create(store, name=f"web{n}"), "node1")
    clock.set(T0 + timedelta(days=2))
    replicas = [SqlStore(url, clock=clock) for _ in range(3)]
    errors: list[BaseException] = []

    def run(replica: SqlStore) -> None:
        try:
            while replica.close_usage(clock(), 120, max_intervals=3).intervals:
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in replicas:
        r.close()
    assert errors == []
    rows = records(store)
    assert len(rows) == 5 * 47
    assert {r[3] for r in rows} == {7200.0}
    days = records(store, UsageDayRow)  # 10:00-24:00, a whole day, 00:00-09:00
    assert [(r[2].day, r[3]) for r in days if r[0] == 1] == [
        (2, 2 * 14 * HOUR), (3, 2 * 24 * HOUR), (4, 2 * 9 * HOUR)]
    assert len(days) == 5 * 3


def test_the_sql_closing_agrees_with_the_rule(store: SqlStore, clock: Clock) -> None:
    """Random ledgers, closed in SQL, against :func:`tashi.domain.accounting.allocated`."""
    rng = random.Random(13)
    base = T0.timestamp()
    ledger = []
    for n in range(300):
        since = base + rng.uniform(-2 * HOUR, 6 * HOUR)
        until = None if rng.random() < 0.2 else since + rng.choice([0, 1, 59.5, 3600, 9000])
        ledger.append(Held(n % 40, rng.choice(["node1", "node2", ""]), rng.randint(0, 8),
                           rng.randint(0, 4096), rng.randint(0, 50), since, until))
    with store._write.begin() as s:  # a ledger no instance could make as fast
        s.execute(insert(AllocationRow), [
            {"instance_id": h.instance_id, "instance": f"i{h.instance_id}", "user_name": "u",
             "host": h.host, "role": f"r{i}", "cores": h.cores, "memory_mib": h.memory_mib,
             "disk_gib": h.disk_gib, "since": h.since, "until": h.until}
            for i, h in enumerate(ledger)])
    close_at(store, clock, T0 + timedelta(hours=8))
    got = {(r[0], r[1], r[2].timestamp()): r[3:] for r in records(store)}
    want: dict[tuple[int, str, float], tuple[float, float, float]] = {}
    start = (base // HOUR - 2) * HOUR
    while start + HOUR <= base + 8 * HOUR - 120:
        for (iid, host), a in allocated(ledger, start, start + HOUR).items():
            want[iid, host, start] = (a.core_seconds, a.memory_mib_seconds, a.disk_gib_seconds)
        start += HOUR
    assert got.keys() == want.keys()
    for where, figures in want.items():
        assert got[where] == pytest.approx(figures, rel=1e-9), where


def test_the_interval_length_is_fixed_once_records_exist(store: SqlStore, clock: Clock) -> None:
    with pytest.raises(InvalidInput, match="dividing a day"):
        store.set_usage_interval(7)
    assert store.set_usage_interval(600) == 600
    bind(store, create(store), "node1")
    close_at(store, clock, T0 + timedelta(minutes=30))
    assert [r[3] for r in records(store)] == [1200.0] * 2
    with pytest.raises(Conflict, match="records exist"):
        store.set_usage_interval(3600)
    assert store.usage_closing().length_s == 600
