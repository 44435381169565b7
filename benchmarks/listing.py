"""Listing at scale: ``GET /api/v1/instances`` with 20,000 instances (no QEMU).

    python benchmarks/listing.py [--instances 20000] [--repeat 7] [--page 500] [--src DIR]

A ``tashi-manager`` process of its own on a temporary sqlite store and loopback, the
store filled before it starts with ``--instances`` instances (Pending, two disks and a
NIC each; made through the store, in batches of 1,000). Then, client side (httpx, one
keep-alive connection, the whole body read and parsed as JSON), the median of
``--repeat`` requests of each:
- *first page*: ``?limit=PAGE``;
- *deep page*: ``?limit=PAGE&after=ID``, ``ID`` the id ``PAGE`` before the last one;
- *filtered page*: ``?state=Pending&name=vm-1&limit=PAGE`` (a name prefix);
- *all*: no limit, every instance in one answer;
- *all, paged*: ``TashiClient.iter_instances`` (pages of 1,000, as ``tashi vm list``).
And ``tashi --json vm list`` (the CLI's process, start to exit; median of 3). With
``--src DIR`` (another checkout's ``src``, e.g. ``git archive HEAD src | tar -x -C
/tmp/head``, put first on ``PYTHONPATH``): the whole list and the CLI's again with that
``src``'s manager and CLI, on the same store, for the ratio to what it was.

The old answer (FastAPI validating and encoding the returned list of models) cannot run
in the same manager, so the comparison is in-process, from the same 20,000 domain
records to the answer's bytes: their fields dumped at once (``instances_json``, what
the API does now), ``InstanceOut`` models made then dumped by one
``TypeAdapter(list[InstanceOut])``, models each ``model_dump``-ed and ``json.dumps``,
and FastAPI's way of a returned list (models made, validated again, dumped to Python,
``json.dumps``). Prints the figures against the issue's targets: a page of 500 in
<= 50 ms, all 20,000 in <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from pydantic import TypeAdapter

from schedule_e2e import Cluster, free_port, prepare, run_manager
from stats import machine_line, print_table, ratio
from tashi.api.convert import instance_out, instances_json
from tashi.api.schemas import InstanceOut
from tashi.client import TashiClient
from tashi.domain.models import DiskSpec, InstanceSpec, NewInstance, NicSpec
from tashi.store.sql import open_store

BATCH = 1000
PAGE_TARGET_S, ALL_TARGET_S = 0.050, 1.0
CLI_RUNS = 3
NOW = "fields, dumped at once (instances_json, now)"
EACH = "models, per-object model_dump + json.dumps"
BEFORE = "models, FastAPI's returned list (before)"


def fill(db: Path, n: int) -> None:
    """``n`` Pending instances of the admin's, vm-0 ... vm-N, in the store at ``db``."""
    store = open_store(f"sqlite:///{db}")
    try:
        for start in range(0, n, BATCH):
            store.create_instances([NewInstance(f"vm-{i}", "admin", InstanceSpec(
                cores=1, memory_mib=128,
                disks=(DiskSpec("bench"), DiskSpec(size_gib=1, scratch=True)),
                nics=(NicSpec("default", f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:"
                                         f"{i & 255:02x}"),)))
                for i in range(start, min(n, start + BATCH))])
    finally:
        store.close()


def median_s(repeat: int, once: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def api(cluster: Cluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.url + "/api/v1", timeout=120,
                        headers={"Authorization": f"Bearer {cluster.admin_token}"})


def get_s(http: httpx.Client, repeat: int, params: dict[str, str | int], expect: int) -> float:
    """Median seconds of ``GET /instances?params``, checking it answers ``expect`` records."""
    def once() -> None:
        resp = http.get("/instances", params=params)
        resp.raise_for_status()
        if len(resp.json()) != expect:
            raise RuntimeError(f"{params}: {len(resp.json())} records, not {expect}")
    return median_s(repeat, once)


def over_http(cluster: Cluster, args: argparse.Namespace) -> dict[str, float]:
    """Seconds (medians) of each request."""
    page, n, repeat = args.page, args.instances, args.repeat
    with api(cluster) as http:
        first = http.get("/instances", params={"limit": 1}).json()[0]["id"]
        deep_after = first + n - page - 1  # consecutive ids: the last page but one record
        filtered = sum(1 for i in range(n) if str(i).startswith("1"))
        figures = {
            "first page": get_s(http, repeat, {"limit": page}, page),
            "deep page": get_s(http, repeat, {"limit": page, "after": deep_after}, page),
            "filtered page": get_s(http, repeat, {"state": "Pending", "name": "vm-1",
                                                  "limit": page}, min(page, filtered)),
            "all": get_s(http, repeat, {}, n),
        }
    figures["all, paged (client)"] = median_s(repeat, lambda: asyncio.run(
        _walk(cluster, n)))
    return figures


def of_src(cluster: Cluster, src: Path, args: argparse.Namespace) -> tuple[float, float]:
    """The whole list and ``tashi --json vm list`` (seconds, medians) with the manager and
    the CLI of ``src`` (another checkout's), on the same store."""
    cluster.stop()
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(src.absolute()), *filter(None, [before])])
    try:
        run_manager(cluster, heartbeat_interval_s=10)
        with api(cluster) as http:
            whole = get_s(http, args.repeat, {}, args.instances)
        return whole, cli_s(cluster)
    finally:
        cluster.stop()
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


async def _walk(cluster: Cluster, n: int) -> None:
    async with TashiClient(cluster.url, cluster.admin_token) as client:
        seen = sum([1 async for _ in client.iter_instances()])
    if seen != n:
        raise RuntimeError(f"walked {seen} instances, not {n}")


def cli_s(cluster: Cluster) -> float:
    """``tashi --json vm list``, process start to exit (median)."""
    argv = [sys.executable, "-c", "from tashi.cmd.cli import main; main()",
            "--url", cluster.url, "--token", cluster.admin_token, "--json", "vm", "list"]
    return median_s(CLI_RUNS, lambda: subprocess.run(argv, check=True,
                                                     stdout=subprocess.DEVNULL))


def serializers(db: Path, repeat: int) -> dict[str, float]:
    """Seconds (medians) to read the records in-process, and of each way of making the
    answer's JSON of them."""
    store = open_store(f"sqlite:///{db}")
    try:
        read = median_s(repeat, store.list_instances)
        instances = store.list_instances()
    finally:
        store.close()
    adapter = TypeAdapter(list[InstanceOut])

    def fastapi_way() -> bytes:  # serialize_response: validate, dump to Python, json.dumps
        checked = adapter.validate_python([instance_out(i) for i in instances])
        return json.dumps(adapter.dump_python(checked, mode="json")).encode()

    return {
        "store read (list_instances)": read,
        NOW: median_s(repeat, lambda: instances_json(instances)),
        "models, then TypeAdapter(list).dump_json": median_s(repeat, lambda: adapter.dump_json(
            [instance_out(i) for i in instances])),
        EACH: median_s(repeat, lambda: json.dumps(
            [instance_out(i).model_dump(mode="json") for i in instances]).encode()),
        BEFORE: median_s(repeat, fastapi_way),
    }


def report(args: argparse.Namespace, load: tuple[float, float, float],
           http: dict[str, float], cli: float, bare: dict[str, float]) -> None:
    n, page = args.instances, args.page
    print(f"{n} instances, pages of {page}, medians of {args.repeat}; sqlite; one "
          "tashi-manager process, client httpx")
    print(machine_line(load))
    targets = {"first page": PAGE_TARGET_S, "deep page": PAGE_TARGET_S,
               "filtered page": PAGE_TARGET_S, "all": ALL_TARGET_S}
    rows = [[what, f"{s * 1000:.1f}",
             f"<= {targets[what] * 1000:.0f}" if what in targets else "-",
             ("met" if s <= targets[what] else "MISSED") if what in targets else "-"]
            for what, s in http.items()]
    rows.append([f"tashi --json vm list (median of {CLI_RUNS})", f"{cli * 1000:.1f}", "-", "-"])
    print_table(["GET /api/v1/instances", "ms", "target ms", ""], rows)
    print()
    print_table([f"in-process, {n} records", "ms"],
                [[what, f"{s * 1000:.1f}"] for what, s in bare.items()])
    now = bare[NOW]
    print(f"records to JSON: before (FastAPI's) / now: {ratio(bare[BEFORE], now)}; "
          f"per-object model_dump / now: {ratio(bare[EACH], now)}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--instances", type=int, default=20_000)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--page", type=int, default=500)
    p.add_argument("--src", type=Path, help="also time the whole list with the manager and "
                   "CLI of another checkout's src (e.g. git archive HEAD src | tar -x -C DIR)")
    args = p.parse_args()
    if not 1 <= args.page <= min(5000, args.instances):
        p.error("--page must be 1-5000 and at most --instances")
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="tashi-bench-listing-"))
    cluster = Cluster(root, f"http://127.0.0.1:{free_port()}", prepare(root), {})
    try:
        t0 = time.perf_counter()
        fill(cluster.db, args.instances)
        print(f"filled the store in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        run_manager(cluster, heartbeat_interval_s=10)
        http = over_http(cluster, args)
        cli = cli_s(cluster)
        old = None if args.src is None else of_src(cluster, args.src, args)
        cluster.stop()
        bare = serializers(cluster.db, args.repeat)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    report(args, load, http, cli, bare)
    if old is not None:
        print(f"\nsrc {args.src} (manager and CLI), same store: all {old[0] * 1000:.1f} ms "
              f"(now / then: {ratio(http['all'], old[0])}), tashi --json vm list "
              f"{old[1] * 1000:.1f} ms (now / then: {ratio(cli, old[1])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
