"""A QEMU VM's usage figures: /proc and ``query-blockstats`` parsing, the arithmetic,
and a hung monitor failing fast instead of stalling the agent."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tashi.agent.drivers.qemu.usage import (
    HostClock,
    ProcStat,
    host_clock,
    measure,
    parse_blockstats,
    parse_boot_time,
    parse_proc_stat,
)
from tashi.domain.errors import DriverError

# A real line of /proc/<pid>/stat of a QEMU, its name made nasty: spaces and a ")".
STAT = ("4242 (qemu ) sys (x)) S 1 4242 4242 0 -1 4194560 30301 0 0 0 "
        "1234 567 0 0 20 0 6 0 98765 1234567890 40960 18446744073709551615 1 1 0 0 0 0 "
        "0 4096 0 0 0 0 17 1 0 0 0 0 0")


def test_proc_stat_fields_are_counted_after_the_names_last_parenthesis() -> None:
    assert parse_proc_stat(STAT) == ProcStat(utime_ticks=1234, stime_ticks=567,
                                             start_ticks=98765, rss_pages=40960)


@pytest.mark.parametrize("text", ["", "4242 (qemu) S 1 2 3", "no parenthesis at all " * 5])
def test_a_line_that_is_no_stat_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a /proc/<pid>/stat line"):
        parse_proc_stat(text)


def test_our_own_stat_line_parses() -> None:
    stat = parse_proc_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
    assert stat.rss_pages > 0
    assert stat.start_ticks > 0


def test_boot_time_comes_from_btime() -> None:
    text = "cpu  1 2 3\nintr 5\nbtime 1764669600\nprocesses 7\n"
    assert parse_boot_time(text) == datetime(2025, 12, 2, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="no btime"):
        parse_boot_time("cpu 1 2 3\n")


def test_ticks_and_pages_become_seconds_and_bytes() -> None:
    boot = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    usage = HostClock(ticks_per_s=100, page_bytes=4096, boot=boot).usage(
        ProcStat(utime_ticks=1234, stime_ticks=567, start_ticks=360000, rss_pages=40960),
        read=9710592, written=4096)
    assert usage.cpu_seconds == pytest.approx(18.01)
    assert usage.memory_rss_bytes == 160 * 1024 * 1024
    assert usage.started_at == boot + timedelta(hours=1)
    assert (usage.disk_read_bytes, usage.disk_written_bytes) == (9710592, 4096)
    assert usage.net_rx_bytes is None
    assert usage.net_tx_bytes is None


def test_this_machines_clock_is_plausible() -> None:
    clock = host_clock()
    assert clock.ticks_per_s > 0
    assert clock.page_bytes >= 4096
    assert clock.boot < datetime.now(UTC)


def _stats(rd: int, wr: int) -> dict[str, int]:
    return {"rd_bytes": rd, "wr_bytes": wr, "rd_operations": 1, "wr_operations": 1}


def test_blockstats_sum_the_drives_not_their_nodes() -> None:
    """As QEMU 7.2 answers for an overlay over its image and a scratch disk: a drive's
    ``parent`` (its file) and ``backing`` (the image) are the same I/O again."""
    answer = [
        {"device": "disk0", "qdev": "/machine/peripheral-anon/device[0]/virtio-backend",
         "stats": _stats(9710592, 4096),
         "parent": {"node-name": "#block063", "stats": _stats(0, 0)},
         "backing": {"node-name": "#block2", "stats": _stats(9000000, 0),
                     "parent": {"stats": _stats(9000000, 0)}}},
        {"device": "disk1", "stats": _stats(512, 1 << 20),
         "parent": {"stats": _stats(512, 1 << 20)}},
    ]
    assert parse_blockstats(answer) == (9710592 + 512, 4096 + (1 << 20))
    assert parse_blockstats([]) == (0, 0)  # a VM without disks


@pytest.mark.parametrize(("answer", "says"), [
    ({"return": []}, "not a list"),
    ([{"device": "disk0"}], "without stats"),
    ([{"device": "disk0", "stats": {"rd_bytes": 1}}], "without byte counts"),
    ([{"stats": {"rd_bytes": "1", "wr_bytes": 2}}], "without byte counts"),
    (["disk0"], "without stats"),
])
def test_blockstats_of_another_shape_are_refused(answer: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_blockstats(answer)


async def test_a_process_gone_is_no_measurement(tmp_path: Path) -> None:
    assert await measure(7, 2**22 + 12345, tmp_path / "qmp.sock") is None  # no such pid


async def test_a_hung_monitor_fails_within_the_timeout(tmp_path: Path) -> None:
    """A QMP socket that accepts and never greets (a hung QEMU): DriverError, fast."""
    path = tmp_path / "qmp.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        with pytest.raises(DriverError, match=r"instance 7: .* timed out after 0\.2 s"):
            await measure(7, os.getpid(), path, timeout_s=0.2)
    finally:
        server.close()
    assert loop.time() - began < 2.0
