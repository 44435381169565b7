"""Usage records for a month of 20,000 instances: closing them, their size, a report.

    python benchmarks/usage_records.py [--instances 20000] [--days 30] [--db-url URL]

Fills a new store's ledger (``allocations``) with ``--instances`` instances held for
``--days`` days from the 1st of a month, one in ten replaced by a successor halfway
(so the ledger has closed allocations too), and each hour's consumption as the agents'
60 s reports add it up (one row per instance and hour, as ``count_usage`` leaves them).
Then times, in the project's own code:

- **closing** every hourly interval of the month (``Store.close_usage``, a day per
  call): records per second, and against the bare aggregation (the same
  ``INSERT … SELECT … GROUP BY`` over the ledger into an empty table with the records'
  key and indexes: without the upsert into the reported consumption, the day sums and
  the mark);
- the **store size** (SQLite: the file; PostgreSQL: ``pg_database_size``);
- **reports** of the month ``--by day`` (``Store.usage_report``, what ``tashi usage --by
  day`` asks of the API): one page of 1000 rows (target: <= 1 s), every page (all
  instances' days), and ``--per user``; P50 of 5 runs each;
- **counting** ``--rounds`` rounds of every host's 60 s report (``--hosts`` agents,
  their instances created and bound for it) through ``Store.count_usage``, against the
  bare upsert of the same figures into a table of their own: figures per second, and
  the rate ``--instances`` VMs reporting every 60 s need.

The default store is SQLite in a temporary directory; ``--db-url`` takes an empty
PostgreSQL database.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from stats import machine_line, print_table
from tashi.domain.accounting import interval_start
from tashi.domain.models import DiskSpec, ImageFormat, InstanceSpec, NewInstance
from tashi.domain.usage import UsageReport, VmUsage
from tashi.domain.usage_reports import Per, Period, UsageQuery
from tashi.store.base import NewImage
from tashi.store.sql import SqlStore, migrate
from tashi.store.sql.tables import AllocationRow, UsageRecordRow

MONTH = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = 3600


def fill(store: SqlStore, instances: int, days: int, seed: int) -> int:
    """The ledger and the reported consumption; how many ledger rows."""
    rng = random.Random(seed)
    start, end = MONTH.timestamp(), MONTH.timestamp() + days * 86400
    ledger: list[dict[str, Any]] = []
    for i in range(1, instances + 1):
        user = f"user{i % 100:02d}"
        cores, memory = rng.choice([(1, 1024), (2, 4096), (4, 8192), (8, 32768)])
        split = start + (end - start) / 2 if i % 10 == 0 else None
        ledger.append({"instance_id": i, "instance": f"vm{i}", "user_name": user,
                       "host": f"node{i % 250:03d}", "role": "primary", "cores": cores,
                       "memory_mib": memory, "disk_gib": 20, "since": start, "until": split})
        if split is not None:  # its successor, on the same host
            ledger.append({**ledger[-1], "instance_id": instances + i,
                           "instance": f"vm{i}b", "since": split, "until": None})
    with store._write.begin() as s:  # a month's ledger, as the claims would have left it
        s.execute(insert(AllocationRow), ledger)
    hours = int((end - start) // HOUR)
    for h in range(hours):
        t = start + h * HOUR
        rows = [{"instance_id": a["instance_id"], "host": a["host"], "start_s": t,
                 "length_s": HOUR, "instance": a["instance"], "user_name": a["user_name"],
                 "cpu_seconds_used": 1800.0, "disk_read_bytes": 10 << 20,
                 "disk_written_bytes": 5 << 20, "net_rx_bytes": None, "net_tx_bytes": None}
                for a in ledger if a["since"] <= t and (a["until"] is None or a["until"] > t)]
        with store._write.begin() as s:
            s.connection().execute(insert(UsageRecordRow.metadata.tables["usage_records"]), rows)
    return len(ledger)


def bare_close(store: SqlStore, days: int) -> float:
    """The bare aggregation of every hour into a scratch table; its seconds."""
    with store._write.begin() as s:  # the records' shape: their key and indexes
        s.execute(text("CREATE TABLE bare AS SELECT * FROM usage_records WHERE 1 = 0"))
        s.execute(text("CREATE UNIQUE INDEX bare_key ON bare (instance_id, host, start_s)"))
        for i, columns in enumerate(("start_s", "user_name, start_s", "host, start_s")):
            s.execute(text(f"CREATE INDEX bare_{i} ON bare ({columns})"))
    began = time.perf_counter()
    start = MONTH.timestamp()
    for day in range(days):
        with store._write.begin() as s:
            for h in range(24):
                a = start + (day * 24 + h) * HOUR
                s.execute(text(
                    "INSERT INTO bare (instance_id, host, start_s, length_s, instance, "
                    "user_name, core_seconds, memory_mib_seconds, disk_gib_seconds) "
                    "SELECT instance_id, host, :a, 3600, max(instance), max(user_name), "
                    "sum(cores * ((CASE WHEN until IS NULL OR until > :b THEN :b ELSE until END)"
                    " - (CASE WHEN since < :a THEN :a ELSE since END))), 0, 0 "
                    "FROM allocations WHERE since < :b AND (until IS NULL OR until > :a) "
                    "GROUP BY instance_id, host"), {"a": a, "b": a + HOUR})
    took = time.perf_counter() - began
    with store._write.begin() as s:
        s.execute(text("DROP TABLE bare"))
    return took


def size_of(store: SqlStore, url: str) -> int:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).stat().st_size
    with store._read.begin() as s:
        return int(s.scalar(text("SELECT pg_database_size(current_database())")) or 0)


def report_seconds(store: SqlStore, days: int, per: Per = Per.INSTANCE,
                   limit: int = 1000, pages: int | None = 1) -> tuple[float, int]:
    """P50 of 5 runs of the month's report ``--by day`` (its first ``pages`` pages; None:
    all), and how many rows that was."""
    query = UsageQuery(start=MONTH, end=MONTH + timedelta(days=days), by=Period.DAY,
                       per=per, limit=limit)
    runs, rows = [], 0
    for _ in range(5):
        began = time.perf_counter()
        page = store.usage_report(query)
        rows, walked = len(page.rows), 1
        while page.next is not None and (pages is None or walked < pages):
            page = store.usage_report(replace(query, after=page.next))
            rows += len(page.rows)
            walked += 1
        runs.append(time.perf_counter() - began)
    return sorted(runs)[2], rows


def count_reports(store: SqlStore, instances: int, hosts: int, rounds: int,
                  ) -> tuple[float, float, int]:
    """``rounds`` of every host's 60 s report (its instances' figures) counted through
    ``Store.count_usage``, against the bare upsert of the same consumption into the
    records: (Tashi seconds, bare seconds, figures counted)."""
    started = MONTH - timedelta(hours=1)
    by_host: dict[str, list[int]] = {}
    for i in range(1, instances + 1):
        by_host.setdefault(f"node{i % hosts:03d}", []).append(i)
    store.create_image(NewImage("bench.raw", "bench", ImageFormat.RAW, 1, 1))
    for host, ids in by_host.items():  # the instances the reports are about, bound
        store.create_host(host, cores=4 * len(ids), memory_mib=4096 * len(ids))
        spec = InstanceSpec(cores=1, memory_mib=1024, disks=(DiskSpec("bench.raw"),),
                            nics=(), host=host, shutdown_timeout_s=30)
        made = store.create_instances([NewInstance(name=f"live{i}", owner="bench",
                                                   spec=spec) for i in ids])
        by_host[host] = [m.id for m in made]
    with store._write.begin() as s:
        s.execute(text("CREATE TABLE bare_counts (instance_id INTEGER PRIMARY KEY, "
                       "cpu DOUBLE PRECISION)"))
    tashi = bare = 0.0
    figures = 0
    for r in range(1, rounds + 1):
        at = MONTH + timedelta(days=40, seconds=60 * r)
        for host, ids in by_host.items():
            report = UsageReport(host, "bench", r, at, tuple(
                (i, VmUsage(started_at=started, cpu_seconds=30.0 * r,
                            memory_rss_bytes=1 << 30, disk_read_bytes=(1 << 20) * r,
                            disk_written_bytes=(1 << 19) * r)) for i in ids))
            began = time.perf_counter()
            store.count_usage(report, at)
            tashi += time.perf_counter() - began
            figures += len(ids)
            began = time.perf_counter()
            with store._write.begin() as s:  # the bare tool: the same rows upserted
                s.execute(text(
                    "INSERT INTO bare_counts (instance_id, cpu) VALUES (:i, :c) "
                    "ON CONFLICT (instance_id) DO UPDATE SET cpu = bare_counts.cpu + "
                    "excluded.cpu"), [{"i": i, "c": 30.0} for i in ids])
            bare += time.perf_counter() - began
    return tashi, bare, figures


def main() -> int:
    load = os.getloadavg()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=250, help="the agents reporting")
    parser.add_argument("--rounds", type=int, default=3,
                        help="how many 60 s reports of every host are timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{tmp}/tashi.db"
        migrate(url)
        end = MONTH + timedelta(days=args.days)
        store = SqlStore(url, clock=lambda: end)
        try:
            began = time.perf_counter()
            ledger = fill(store, args.instances, args.days, args.seed)
            print(f"filled: {ledger} allocations, a month of consumption, "
                  f"{time.perf_counter() - began:.1f} s", file=sys.stderr)
            bare = bare_close(store, args.days)
            began = time.perf_counter()
            intervals = 0
            while done := store.close_usage(end, 0).intervals:
                intervals += done
            closing = time.perf_counter() - began
            assert interval_start(end.timestamp(), HOUR) == store.usage_closing(
            ).closed_until.timestamp()  # type: ignore[union-attr]
            records = intervals * args.instances
            size = size_of(store, url)
            page, page_rows = report_seconds(store, args.days)
            whole, whole_rows = report_seconds(store, args.days, limit=10_000, pages=None)
            users, user_rows = report_seconds(store, args.days, per=Per.USER, pages=None)
            tashi, bare_count, figures = count_reports(store, args.instances, args.hosts,
                                                       args.rounds)
        finally:
            store.close()
    print(machine_line(load))
    print(f"store: {url.split(':')[0]}; {args.instances} instances, {args.days} days, "
          f"{intervals} hourly intervals")
    print_table(["what", "figure"], [
        ["closing, Tashi", f"{closing:.1f} s ({records / closing:,.0f} records/s)"],
        ["closing, bare aggregation", f"{bare:.1f} s"],
        ["Tashi / bare", f"{closing / bare:.2f}x"],
        ["store size", f"{size / 2**20:,.0f} MiB ({size / max(records, 1):.0f} B/record)"],
        ["report --by day, one page, P50 of 5",
         f"{page:.3f} s ({page_rows} rows; target <= 1 s)"],
        ["report --by day, every page, P50 of 5", f"{whole:.2f} s ({whole_rows} rows)"],
        ["report --by day --per user, P50 of 5", f"{users:.3f} s ({user_rows} rows)"],
        ["reports counted, Tashi", f"{tashi:.2f} s ({figures / tashi:,.0f} figures/s; "
         f"{args.instances} VMs at 60 s need {args.instances / 60:,.0f}/s)"],
        ["reports counted, bare upsert", f"{bare_count:.2f} s"],
        ["Tashi / bare (counting)", f"{tashi / bare_count:.2f}x"],
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
