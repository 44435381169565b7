"""``tashi usage`` against a real manager whose store holds the usage of
:mod:`tests.integration.usage_ledger`: the table in human units, CSV, JSON, and the
refusals, each on one line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.integration.test_quota_cli import add_alice, rows
from tests.integration.usage_ledger import GIB, fill
from tests.unit import test_cli_commands as cli

manager = cli.manager  # the fixture: a manager served in a thread, for the CLI to call
Manager = cli.Manager


@pytest.fixture(autouse=True)
def ledger(tmp_path: Path) -> None:
    """The usage, written before the manager fixture opens the same store."""
    fill(f"sqlite:///{tmp_path}/t.db")


def test_the_table_is_in_hours_and_says_up_to_when(manager: Manager) -> None:
    out = cli.ok(cli.tashi(manager, "usage", "--by", "day", "--from", "2030-11-30"))
    lines = out.splitlines()
    assert lines[0] == "usage counted until 2030-12-01 03:00 UTC"
    assert rows("\n".join(lines[1:])) == [
        ["START", "USER", "INSTANCE", "HOST", "CORE-H", "MEMORY GIB-H", "DISK GIB-H",
         "CPU-H USED", "DISK READ", "WRITTEN", "NET RX", "NET TX"],
        ["2030-11-30", "alice", "web", "node1", "4.00", "2.00", "0.00", "0.03", "1000 B",
         "2.0 KiB", "3.0 GiB", "1.0 GiB"],
        ["2030-11-30", "alice", "db", "node2", "4.00", "2.00", "0.00", "0.00", "0 B", "0 B",
         "-", "-"],
        ["2030-12-01", "alice", "web", "node1", "3.00", "1.50", "0.00", "0.01", "10 B",
         "20 B", "1.0 GiB", "1.0 GiB"],
        ["2030-12-01", "alice", "db", "node2", "2.00", "1.00", "0.00", "0.01", "5 B", "6 B",
         "-", "-"],
    ]
    months = cli.ok(cli.tashi(manager, "usage", "--by", "month", "--per", "user",
                              "--from", "2030-11", "--to", "2030-12"))
    assert rows(months)[1:] == [
        ["START", "USER", "CORE-H", "MEMORY GIB-H", "DISK GIB-H", "CPU-H USED", "DISK READ",
         "WRITTEN", "NET RX", "NET TX"],
        ["2030-11", "alice", "8.00", "4.00", "0.00", "0.03", "1000 B", "2.0 KiB", "3.0 GiB",
         "1.0 GiB"],
        ["2030-11", "bob", "2.00", "1.00", "0.00", "0.00", "100 B", "200 B", "1.0 GiB",
         "0 B"]]


def test_csv_has_a_header_and_the_raw_figures(manager: Manager) -> None:
    out = cli.ok(cli.tashi(manager, "usage", "--by", "month", "--per", "host", "--csv"))
    table = list(csv.reader(io.StringIO(out)))
    assert table == [
        ["start", "end", "user", "instance", "instance_id", "host", "core_seconds",
         "memory_mib_seconds", "disk_gib_seconds", "cpu_seconds_used", "disk_read_bytes",
         "disk_written_bytes", "net_rx_bytes", "net_tx_bytes"],
        ["2030-11-01T00:00:00+00:00", "2030-12-01T00:00:00+00:00", "", "", "", "node1", "21600.0",
         "11059200.0", "0.0", "110.5", "1100", "2200", str(4 * GIB), str(GIB)],
        ["2030-11-01T00:00:00+00:00", "2030-12-01T00:00:00+00:00", "", "", "", "node2", "14400.0",
         "7372800.0", "0.0", "0.0", "0", "0", "", ""],
        ["2030-12-01T00:00:00+00:00", "2030-12-01T03:00:00+00:00", "", "", "", "node1", "10800.0",
         "5529600.0", "0.0", "20.0", "10", "20", str(GIB), str(GIB)],
        ["2030-12-01T00:00:00+00:00", "2030-12-01T03:00:00+00:00", "", "", "", "node2", "7200.0",
         "3686400.0", "0.0", "50.0", "5", "6", "", ""],
    ]


def test_json_and_a_user_sees_their_own(manager: Manager) -> None:
    token = add_alice(manager)
    shown = json.loads(cli.ok(cli.tashi(manager, "--json", "usage", "--by", "hour",
                                        "--instance", "db", token=token)))
    assert (shown["closed_until"], shown["next"]) == ("2030-12-01T03:00:00Z", None)
    assert [(r["start"], r["user"], r["instance"], r["host"], r["core_seconds"],
             r["net_rx_bytes"]) for r in shown["rows"]] == [
        ("2030-11-30T23:00:00Z", "alice", "db", "node2", 14400.0, None),
        ("2030-12-01T00:00:00Z", "alice", "db", "node2", 7200.0, None)]
    assert set(shown["rows"][0]) >= {
        "user", "instance", "host", "start", "end", "core_seconds", "memory_mib_seconds",
        "disk_gib_seconds", "cpu_seconds_used", "disk_read_bytes", "disk_written_bytes",
        "net_rx_bytes", "net_tx_bytes"}
    mine = json.loads(cli.ok(cli.tashi(manager, "usage", "--json", "--per", "user",
                                       "--by", "month", token=token)))
    assert [(r["user"], r["core_seconds"]) for r in mine["rows"]] == [
        ("alice", 28800.0), ("alice", 18000.0)]
    assert cli.fails(cli.tashi(manager, "usage", "--user", "bob", token=token), 3) == (
        "tashi: user alice may see only its own usage, not bob's")


@pytest.mark.parametrize(("args", "code", "says"), [
    (["--from", "last week"], 2, "tashi: --from: 'last week' is not a month, date or time "
                                 "(e.g. 2026-11, 2026-11-02, 2026-11-02T10:00Z)"),
    (["--to", "2030-13"], 2, "tashi: --to: '2030-13' is not a month, date or time "
                             "(e.g. 2026-11, 2026-11-02, 2026-11-02T10:00Z)"),
    (["--by", "day", "--from", "2030-11-30T10:00"], 2,
     "tashi: usage report: start 2030-11-30T10:00:00+00:00 is not the start of a day (UTC)"),
    (["--from", "2030-12", "--to", "2030-11"], 2,
     "tashi: usage report: start 2030-12-01T00:00:00+00:00 is not before end "
     "2030-11-01T00:00:00+00:00"),
])
def test_bad_input_exits_with_one_line(manager: Manager, args: list[str], code: int,
                                       says: str) -> None:
    assert cli.fails(cli.tashi(manager, "usage", *args), code) == says
