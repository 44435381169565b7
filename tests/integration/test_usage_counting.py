"""Counting agents' usage reports into the records, on SQLite and PostgreSQL: each
report once (its sequence number), each VM's consumption since the report before, in
the interval it was measured in, a closed record never touched again."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tashi.domain.errors import Conflict, Forbidden
from tashi.domain.models import Instance
from tashi.domain.usage import UsageReport, VmUsage
from tashi.store.sql import SqlStore
from tashi.store.sql.tables import UsageRecordRow, UsageSenderRow
from tests.integration.test_accounting import (
    HOUR,
    T0,
    Clock,
    bind,
    close_at,
    create,
    observe,
)

pytest_plugins = ["tests.integration.test_accounting"]  # its url, clock and store fixtures

STARTED = T0 - timedelta(minutes=5)  # the VM's process


def vm(cpu: float, *, started: datetime = STARTED, read: int = 0,
       net: int | None = None) -> VmUsage:
    return VmUsage(started_at=started, cpu_seconds=cpu, memory_rss_bytes=1 << 20,
                   disk_read_bytes=read, disk_written_bytes=2 * read,
                   net_rx_bytes=net, net_tx_bytes=None if net is None else net // 2)


def report(seq: int, at: datetime, *figures: tuple[int, VmUsage], host: str = "node1",
           sender: str = "agent-a") -> UsageReport:
    return UsageReport(host, sender, seq, at, tuple(figures))


def consumed(store: SqlStore) -> list[tuple[int, str, datetime, float, int, int | None]]:
    """(instance, host, start, CPU s, bytes read, bytes received) of every record."""
    with store._read.begin() as s:
        rows = s.execute(select(UsageRecordRow.instance_id, UsageRecordRow.host,
                                UsageRecordRow.start_s, UsageRecordRow.cpu_seconds_used,
                                UsageRecordRow.disk_read_bytes, UsageRecordRow.net_rx_bytes)
                         .order_by(UsageRecordRow.start_s, UsageRecordRow.instance_id))
        return [(i, h, datetime.fromtimestamp(t, UTC), c, r, n) for i, h, t, c, r, n in rows]


def running_on(store: SqlStore, host: str = "node1", name: str = "web") -> Instance:
    inst = create(store, name)
    bind(store, inst, host)
    return observe(store, inst, "running")


def test_each_report_adds_what_was_used_since_the_one_before(store: SqlStore) -> None:
    inst = running_on(store)
    now = T0 + timedelta(minutes=1)
    assert store.count_usage(report(1, now, (inst.id, vm(30.0, read=100, net=10))), now) == 1
    later = T0 + timedelta(minutes=2)
    assert store.count_usage(report(2, later, (inst.id, vm(42.5, read=160, net=16))),
                             later) == 1
    # the first counts its counters whole (since the process started), the next the rest
    assert consumed(store) == [(inst.id, "node1", T0, 42.5, 160, 16)]
    latest = store.get_usage(inst.id)
    assert latest is not None
    assert latest.usage.cpu_seconds == 42.5


def test_a_report_sent_again_or_older_is_refused_and_counts_nothing(store: SqlStore) -> None:
    inst = running_on(store)
    at = T0 + timedelta(minutes=1)
    store.count_usage(report(7, at, (inst.id, vm(10.0))), at)
    for seq in (7, 3):
        with pytest.raises(Conflict, match=f"usage report {seq} is stale: report 7"):
            store.count_usage(report(seq, at, (inst.id, vm(99.0))), at)
    assert consumed(store) == [(inst.id, "node1", T0, 10.0, 0, None)]
    # a new sender (the agent's state was lost) counts from its own 1
    store.count_usage(report(1, at, (inst.id, vm(12.0)), sender="agent-b"), at)
    assert consumed(store)[0][3] == 12.0


def test_a_report_naming_another_hosts_instance_is_refused_whole(store: SqlStore) -> None:
    ours, theirs = running_on(store, "node1", "web"), running_on(store, "node2", "db")
    at = T0 + timedelta(minutes=1)
    with pytest.raises(Forbidden, match=rf"{theirs.id} \(db, on node2\); nothing counted"):
        store.count_usage(report(1, at, (ours.id, vm(5.0)), (theirs.id, vm(5.0))), at)
    assert consumed(store) == []
    with store._read.begin() as s:
        assert s.scalars(select(UsageSenderRow)).all() == []  # the number was not used
    assert store.count_usage(report(1, at, (ours.id, vm(5.0))), at) == 1


def test_a_restarted_vm_counts_from_zero_and_an_older_measurement_not_at_all(
        store: SqlStore) -> None:
    inst = running_on(store)
    at = T0 + timedelta(minutes=1)
    store.count_usage(report(1, at, (inst.id, vm(50.0))), at)
    store.count_usage(report(2, at, (inst.id, vm(45.0))), at)  # went backwards: older
    again = STARTED + timedelta(minutes=3)
    store.count_usage(report(3, at, (inst.id, vm(4.0, started=again))), at)  # a new process
    store.count_usage(report(4, at, (inst.id, vm(9.0, started=STARTED))), at)  # the old one
    assert consumed(store)[0][3] == 54.0


def test_a_late_report_goes_to_the_first_open_interval(store: SqlStore,
                                                       clock: Clock) -> None:
    inst = running_on(store)
    measured = T0 + timedelta(minutes=30)
    close_at(store, clock, T0 + timedelta(hours=1, minutes=5))  # 10:00-11:00 closes
    arrived = T0 + timedelta(hours=1, minutes=6)
    store.count_usage(report(1, measured, (inst.id, vm(20.0))), arrived)
    rows = consumed(store)
    assert rows == [(inst.id, "node1", T0, 0.0, 0, None),  # closed: as it was
                    (inst.id, "node1", T0 + timedelta(hours=1), 20.0, 0, None)]
    close_at(store, clock, T0 + timedelta(hours=2, minutes=5))
    with store._read.begin() as s:
        core_s = s.scalars(select(UsageRecordRow.core_seconds)
                           .order_by(UsageRecordRow.start_s)).all()
    assert core_s == [2 * HOUR, 2 * HOUR]  # the closing kept the consumption it found


def test_a_measurement_from_the_future_counts_now(store: SqlStore) -> None:
    inst = running_on(store)
    now = T0 + timedelta(minutes=59)
    store.count_usage(report(1, now + timedelta(hours=3), (inst.id, vm(1.0))), now)
    assert consumed(store)[0][2] == T0  # the agent's clock ran ahead: the manager's wins


def test_two_replicas_counting_the_same_report_count_it_once(url: str, store: SqlStore,
                                                             clock: Clock) -> None:
    inst = running_on(store)
    other = SqlStore(url, clock=clock)
    at = T0 + timedelta(minutes=1)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def send(to: SqlStore) -> None:
        barrier.wait()
        try:
            to.count_usage(report(1, at, (inst.id, vm(33.0))), at)
            outcomes.append("counted")
        except Conflict:
            outcomes.append("stale")

    try:
        threads = [threading.Thread(target=send, args=(s,)) for s in (store, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.close()
    assert sorted(outcomes) == ["counted", "stale"]
    assert consumed(store)[0][3] == 33.0
