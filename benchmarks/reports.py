"""Agent reports applied by the manager: status changes per second on sqlite (no QEMU).

    python benchmarks/reports.py [--instances 1000] [--repeat 3]

In this process, on a temporary sqlite store: one host (the fake driver's
capabilities, room for everything), ``--instances`` instances bound to it (Activating).
Each round times :meth:`tashi.manager.reports.ReportService.apply` of one report that
sees every one of them running (Activating -> Running: a status write, a derived
state, an event each), then of the same number of one-instance reports (what a report
per instance costs: a transaction each), each on instances of its own. The baseline is
the bare tool: ``sqlite3`` updating as many rows (status document and state) in one
transaction on a copy of the same database. Prints changes per second, the ratio of
one report to the bare update, and the gain over one report per instance. The issue's
target: >= 1,000 changes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from stats import machine_line, print_table, ratio
from tashi import __version__
from tashi.agent.drivers.base import capabilities_of
from tashi.agent.drivers.fake import FakeDriver
from tashi.common.clock import SystemClock
from tashi.domain.derive import Observed
from tashi.domain.desired import Observation
from tashi.domain.models import DiskSpec, ImageFormat, InstanceSpec, NewInstance, NicSpec
from tashi.domain.states import InstanceState
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.store.base import NewImage
from tashi.store.binding import Binding
from tashi.store.sql import open_store

HOST = "bench-host"
TARGET_PER_S = 1000.0


def activating(core: ManagerCore, prefix: str, n: int) -> list[int]:
    """``n`` new instances bound to the host (Activating); their ids."""
    spec = InstanceSpec(cores=1, memory_mib=1, disks=(DiskSpec("bench"),),
                        nics=(NicSpec("default", "52:54:00:00:00:01"),))
    made = core.store.create_instances(
        [NewInstance(f"{prefix}-{i}", "admin", spec) for i in range(n)])
    results = core.store.bind_instances([Binding(i.id, HOST, i.generation) for i in made])
    bound = [r.instance_id for r in results if r.instance is not None]
    if len(bound) != n:
        raise RuntimeError(f"bound {len(bound)} of {n}: {results[0].error}")
    return bound


def running(ids: Sequence[int]) -> list[Observation]:
    return [Observation(id=i, observed=Observed.RUNNING) for i in ids]


def check_running(core: ManagerCore, ids: Sequence[int]) -> None:
    states = {i.id: i.state for i in core.store.list_instances(host=HOST)}
    wrong = [i for i in ids if states.get(i) is not InstanceState.RUNNING]
    if wrong:
        raise RuntimeError(f"{len(wrong)} instance(s) not Running, e.g. {wrong[0]}")


def bare_update(db: Path, ids: Sequence[int], work: Path) -> float:
    """Seconds sqlite3 takes to update the rows of ``ids`` (status and state) in one
    transaction, on a copy of the store's database."""
    copy = work / "bare.db"
    with sqlite3.connect(db) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    status = json.dumps({"observed": "running", "message": "host reports it running",
                         "observed_at": "2026-12-04T12:00:00+00:00", "ran": True})
    connection = sqlite3.connect(copy, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        t0 = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("UPDATE instances SET status = ?, state = 'Running' "
                               "WHERE id = ?", [(status, i) for i in ids])
        connection.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        connection.close()
        copy.unlink()


def measure(args: argparse.Namespace, work: Path) -> list[tuple[float, float, float]]:
    url = f"sqlite:///{work / 'tashi.db'}"
    store = open_store(url)
    try:
        ensure_admin(store)
        ensure_default_network(store)
        (work / "images").mkdir()
        (work / "images" / "bench").write_bytes(b"\0" * 1024)
        store.create_image(NewImage("bench", "admin", ImageFormat.RAW, 1024, 1024))
        caps = asyncio.run(capabilities_of(FakeDriver()))
        store.create_host(HOST)
        core = ManagerCore.build(store, SystemClock(), image_dir=work / "images",
                                 heartbeat_timeout_s=3600, join_token=None)
        core.hosts.heartbeat(HOST, cores=10 * args.instances, memory_mib=10 * args.instances,
                             version=__version__, disk_gib=1, capabilities=caps)
        rounds = []
        for r in range(args.repeat):
            one = activating(core, f"batch{r}", args.instances)
            t0 = time.perf_counter()
            core.reports.apply(HOST, running(one))
            batch_s = time.perf_counter() - t0
            check_running(core, one)
            each = activating(core, f"each{r}", args.instances)
            t0 = time.perf_counter()
            for instance_id in each:
                core.reports.apply(HOST, running([instance_id]))
            each_s = time.perf_counter() - t0
            check_running(core, each)
            bare_s = bare_update(work / "tashi.db", activating(core, f"bare{r}", args.instances),
                                 work)
            rounds.append((batch_s, each_s, bare_s))
            print(f"round {r + 1}: one report {batch_s:.3f} s, one per instance "
                  f"{each_s:.3f} s, bare sqlite3 {bare_s:.3f} s", file=sys.stderr)
        core.notifier.close()
        return rounds
    finally:
        store.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="tashi-bench-reports-"))
    try:
        rounds = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.instances
    batch = sorted(r[0] for r in rounds)[len(rounds) // 2]
    each = sorted(r[1] for r in rounds)[len(rounds) // 2]
    bare = sorted(r[2] for r in rounds)[len(rounds) // 2]
    print(f"{n} status changes (Activating -> Running) per round, {args.repeat} rounds, "
          "medians; sqlite")
    print(machine_line(load))
    print_table(["how", "seconds", "changes/s"], [
        ["one report of all (Tashi)", f"{batch:.3f}", f"{n / batch:.0f}"],
        ["one report per instance (Tashi)", f"{each:.3f}", f"{n / each:.0f}"],
        ["bare sqlite3 UPDATE, one transaction", f"{bare:.3f}", f"{n / bare:.0f}"]])
    print(f"one report / bare: {ratio(batch, bare)}; one report per instance / one report: "
          f"{ratio(each, batch)}")
    met = n / batch >= TARGET_PER_S
    print(f"target >= {TARGET_PER_S:.0f} changes/s: {'met' if met else 'MISSED'} "
          f"({n / batch:.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
