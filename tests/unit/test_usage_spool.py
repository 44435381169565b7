"""The agent's spool of usage reports (numbered on, kept across restarts, bounded, a torn
file dropped) and the rule that turns two measurements into what was consumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tashi.agent.usage_spool import UsageSpool
from tashi.domain.usage import Consumed, VmUsage, consumed

START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def vm(cpu: float, *, started: datetime = START, read: int = 0, written: int = 0,
       net: tuple[int, int] | None = None) -> VmUsage:
    rx, tx = net if net is not None else (None, None)
    return VmUsage(started_at=started, cpu_seconds=cpu, memory_rss_bytes=1,
                   disk_read_bytes=read, disk_written_bytes=written,
                   net_rx_bytes=rx, net_tx_bytes=tx)


def test_reports_wait_in_order_and_survive_a_restart(tmp_path: Path) -> None:
    spool = UsageSpool("h1", tmp_path / "spool")
    first = spool.add(START, {2: vm(1.0), 1: vm(2.0)})
    second = spool.add(START + timedelta(minutes=1), {1: vm(3.0)})
    assert (first.seq, second.seq) == (1, 2)
    assert first.figures == ((1, vm(2.0)), (2, vm(1.0)))  # by instance id
    again = UsageSpool("h1", tmp_path / "spool")  # the agent restarted
    assert again.sender == spool.sender
    assert again.pending() == [first, second]
    again.done(1)
    assert [r.seq for r in UsageSpool("h1", tmp_path / "spool").pending()] == [2]
    assert again.add(START, {1: vm(4.0)}).seq == 3  # numbered on, never reused


def test_numbers_go_on_after_every_report_was_answered(tmp_path: Path) -> None:
    spool = UsageSpool("h1", tmp_path)
    for _ in range(3):
        spool.done(spool.add(START, {1: vm(1.0)}).seq)
    assert spool.pending() == []
    assert UsageSpool("h1", tmp_path).add(START, {1: vm(1.0)}).seq == 4


def test_past_its_bound_the_oldest_go(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = UsageSpool("h1", tmp_path, max_reports=3)
    for i in range(5):
        spool.add(START, {1: vm(float(i))})
    assert [r.seq for r in spool.pending()] == [3, 4, 5]
    assert "host h1: usage report 1 dropped unsent" in caplog.text
    memory = UsageSpool("h1", None, max_reports=2)
    for i in range(4):
        memory.add(START, {1: vm(float(i))})
    assert [r.seq for r in memory.pending()] == [3, 4]


def test_a_torn_report_or_sender_file_is_dropped_not_fatal(tmp_path: Path) -> None:
    spool = UsageSpool("h1", tmp_path)
    spool.add(START, {1: vm(1.0)})
    spool.add(START, {1: vm(2.0)})
    (tmp_path / "1.json").write_bytes(b'{"sender": "x", "se')  # a crash mid-write
    assert [r.seq for r in spool.pending()] == [2]
    assert not (tmp_path / "1.json").exists()
    (tmp_path / "sender.json").write_bytes(b"not json")
    fresh = UsageSpool("h1", tmp_path)
    assert fresh.sender != spool.sender  # a new sender: the manager counts its own numbers
    assert fresh.add(START, {1: vm(3.0)}).seq == 1
    assert (tmp_path / "sender.json").stat().st_mode & 0o777 == 0o600


def test_consumed_is_the_difference_of_one_process_counters() -> None:
    before = vm(10.0, read=100, written=50, net=(7, 3))
    assert consumed(before, vm(12.5, read=150, written=50, net=(9, 4))) == \
        Consumed(2.5, 50, 0, 2, 1)
    assert consumed(None, before) == Consumed(10.0, 100, 50, 7, 3)  # the first: whole


def test_a_new_process_counts_whole_an_older_one_not_at_all() -> None:
    before = vm(10.0, read=100)
    later = START + timedelta(seconds=30)
    assert consumed(before, vm(1.0, started=later, read=5)) == Consumed(1.0, 5, 0, None, None)
    assert consumed(before, vm(99.0, started=START - timedelta(seconds=1))) is None
    assert consumed(before, vm(9.0, read=100)) is None  # a counter went backwards: older
    assert consumed(before, vm(10.0, read=99)) is None


def test_network_measured_from_some_point_counts_from_the_process_start() -> None:
    assert consumed(vm(1.0), vm(2.0, net=(40, 20))) == Consumed(1.0, 0, 0, 40, 20)
    assert consumed(vm(1.0, net=(40, 20)), vm(2.0)) == Consumed(1.0, 0, 0, None, None)
    same = consumed(vm(1.0), vm(1.0))
    assert same is not None
    assert same.is_nothing()
