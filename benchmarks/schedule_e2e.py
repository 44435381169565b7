"""Scheduling end to end: a real manager, thousands of simulated hosts, the scheduler.

    python benchmarks/schedule_e2e.py [--hosts 5000] [--instances 20000] [--burst 500]
                                      [--concurrency 2] [--hosts-mode agents|bulk]
                                      [--heartbeat-interval 30] [--backlog]
                                      [--seed 1] [--timeout-s 900]

Runs, each as a process of its own, on a temporary directory: ``tashi-manager``
(uvicorn, sqlite), ``tashi-scheduler`` (spread policy) and, with ``--hosts-mode
agents``, ``tashi-agent simulate`` (one agent loop per host, fake driver: VMs are
simulated, nothing runs). With ``--hosts-mode bulk`` the benchmark itself joins the
hosts and heartbeats them, without agent loops: bound instances then stay Activating
(no agent starts them). Either way the hosts are simulated (64 cores, 256 GiB,
hypervisor "fake (simulation)").

Once every host is up, instances are created through the API in bursts of
``--burst`` (``POST /instances/bulk``, the ``tashi vm create --count`` request; each
burst of one size from 1-4 cores and 512-4096 MiB), ``--concurrency`` requests at a
time. Measured from the
store: from the first instance created (Pending) to the last one bound (its
``Pending -> Activating`` event), so placements/s covers creation, snapshots,
placement and the atomic batch binds. With ``--backlog`` every instance is created
first and the scheduler started after: placements/s then counts from the scheduler's
start to the last bind (placement alone: snapshots, decisions, batch binds). Prints
the figures, the CPU seconds each process used meanwhile, and the overcommit check
(usage recomputed from the bound instances against each host's capacity: must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from stats import machine_line, print_table
from tashi import __version__
from tashi.api.schemas import HeartbeatIn, InstanceCreate
from tashi.client import TashiClient
from tashi.domain.errors import TashiError
from tashi.domain.models import ImageFormat, Visibility
from tashi.domain.states import HOLDS_RESOURCES, HostState
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.store.base import NewImage
from tashi.store.sql import open_store

JOIN_TOKEN = "bench-join-token"
HOST_CORES, HOST_MEMORY_MIB = 64, 256 * 1024
SIZES = [(c, m) for c in (1, 2, 4) for m in (512, 1024, 2048, 4096)]


@dataclass
class Cluster:
    """The processes of the benchmark's cluster and where they write."""

    root: Path
    url: str
    admin_token: str
    procs: dict[str, subprocess.Popen[bytes]]

    @property
    def db(self) -> Path:
        return self.root / "tashi.db"

    def start(self, name: str, module: str, args: Sequence[str], env: dict[str, str]) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 (kept by the process)
        argv = [sys.executable, "-c", f"from {module} import main; main()", *args]
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **env})

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) each process used so far."""
        tick = os.sysconf("SC_CLK_TCK")
        out = {}
        for name, proc in self.procs.items():
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                out[name] = (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                out[name] = float("nan")
        return out

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(root: Path) -> str:
    """A migrated store with an admin, the default network and an image; the token."""
    store = open_store(f"sqlite:///{root / 'tashi.db'}")
    try:
        token = ensure_admin(store)
        assert token is not None
        ensure_default_network(store)
        (root / "images").mkdir()
        (root / "images" / "bench").write_bytes(b"\0" * 1024)
        store.create_image(NewImage("bench", "admin", ImageFormat.RAW, 1024, 1024,
                                         visibility=Visibility.PUBLIC))
    finally:
        store.close()
    return token


def start_manager(root: Path, heartbeat_interval_s: float) -> Cluster:
    """A new store in ``root`` and its manager, serving."""
    cluster = Cluster(root, f"http://127.0.0.1:{free_port()}", prepare(root), {})
    run_manager(cluster, heartbeat_interval_s)
    return cluster


def run_manager(cluster: Cluster, heartbeat_interval_s: float) -> float:
    """Start ``cluster``'s manager (again) and wait until it answers; seconds it took."""
    url, root = cluster.url, cluster.root
    started = time.monotonic()
    cluster.start("manager", "tashi.cmd.manager", [], {
        "TASHI_DB_URL": f"sqlite:///{cluster.db}", "TASHI_PORT": url.rsplit(":", 1)[1],
        "TASHI_LISTEN": "127.0.0.1", "TASHI_IMAGE_DIR": str(root / "images"),
        "TASHI_JOIN_TOKEN": JOIN_TOKEN, "TASHI_LOG_LEVEL": "INFO",
        "TASHI_HEARTBEAT_TIMEOUT_S": str(3 * heartbeat_interval_s)})
    deadline = started + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
            return time.monotonic() - started
        except httpx.HTTPError:
            if time.monotonic() > deadline or cluster.procs["manager"].poll() is not None:
                raise RuntimeError(f"the manager did not start; see {root}/manager.log") from None
            time.sleep(0.05)


async def bulk_hosts(cluster: Cluster, n: int, interval_s: float) -> None:
    """Join ``n`` hosts and heartbeat each every ``interval_s`` (no agent loops)."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    transport = httpx.AsyncHTTPTransport(limits=limits)
    anonymous = TashiClient(cluster.url, transport=transport)
    gate = asyncio.Semaphore(32)
    beat = HeartbeatIn(cores=HOST_CORES, memory_mib=HOST_MEMORY_MIB, agent_version=__version__,
                       hypervisor="fake (simulation)")

    async def host(name: str) -> None:
        token = None
        while token is None:  # an agent retries a failed join, so does this
            try:
                async with gate:
                    token = await anonymous.join(name, JOIN_TOKEN)
            except TashiError as exc:
                print(f"host {name}: join failed, retrying: {exc.message}", file=sys.stderr)
                await asyncio.sleep(1)
        client = TashiClient(cluster.url, token, transport=transport)
        await asyncio.sleep(random.uniform(0, interval_s))
        while True:
            try:
                async with gate:
                    await client.heartbeat(name, beat)
            except TashiError as exc:
                print(f"host {name}: heartbeat failed: {exc.message}", file=sys.stderr)
            await asyncio.sleep(interval_s)

    try:
        await asyncio.gather(*(host(f"sim-{i}") for i in range(1, n + 1)))
    finally:
        await transport.aclose()


async def wait_hosts_up(client: TashiClient, n: int, timeout_s: float) -> float:
    started = time.monotonic()
    while True:
        hosts = await client.list_hosts()
        up = sum(h.up for h in hosts)
        if up >= n:
            refused = Counter(h.state.value for h in hosts if h.state is not HostState.NORMAL)
            if refused:  # the scheduler would place nothing there: say so, don't hang
                raise RuntimeError(f"hosts up but not Normal: {dict(refused)}")
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"only {up} of {n} hosts up after {timeout_s:.0f} s")
        await asyncio.sleep(1)


async def create_bursts(client: TashiClient, total: int, burst: int, concurrency: int,
                        rng: random.Random) -> float:
    """Create ``total`` instances in bursts, ``concurrency`` requests at a time; the
    seconds it took."""
    bodies = [InstanceCreate(name=f"b{k}", image="bench", cores=cores, memory_mib=memory_mib,
                             count=min(burst, total - start))
              for k, start in enumerate(range(0, total, burst))
              for cores, memory_mib in [rng.choice(SIZES)]]
    gate = asyncio.Semaphore(concurrency)

    async def create(body: InstanceCreate) -> None:
        async with gate:
            await client.create_instances(body)

    started = time.monotonic()
    await asyncio.gather(*(create(b) for b in bodies))
    return time.monotonic() - started


async def wait_all_bound(db: Path, total: int, timeout_s: float) -> None:
    """Poll the store (read-only) until ``total`` instances exist and none is Pending."""
    deadline = time.monotonic() + timeout_s
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as lite:
        while True:
            made, pending = lite.execute(
                "SELECT count(*), coalesce(sum(state = 'Pending'), 0) FROM instances").fetchone()
            if made >= total and pending == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{made} created, {pending} still Pending after "
                                   f"{timeout_s:.0f} s")
            await asyncio.sleep(0.05)


def store_times(db: Path) -> tuple[datetime, datetime, datetime]:
    """First created, first bound, last bound (server clock, from the store)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as lite:
        (first,) = lite.execute("SELECT min(created_at) FROM instances").fetchone()
        bound = lite.execute("SELECT min(at), max(at) FROM events "
                             "WHERE message LIKE 'Pending -> Activating%'").fetchone()
    return (datetime.fromisoformat(first), datetime.fromisoformat(bound[0]),
            datetime.fromisoformat(bound[1]))


def overcommit(db: Path) -> tuple[int, int, int, int, int]:
    """(bound, worst core overcommit, worst MiB overcommit, least, most per host)."""
    store = open_store(f"sqlite:///{db}")
    try:
        hosts = {h.name: h for h in store.list_hosts()}
        holding = store.list_instances(states=HOLDS_RESOURCES)
    finally:
        store.close()
    cores: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for inst in holding:
        host = str(inst.spec.host)
        cores[host] += inst.spec.cores
        memory[host] += inst.spec.memory_mib
        count[host] += 1
    return (len(holding), max(0, *(cores[h] - hosts[h].cores for h in hosts)),
            max(0, *(memory[h] - hosts[h].memory_mib for h in hosts)),
            min(count[h] for h in hosts), max(count[h] for h in hosts))


@dataclass(frozen=True, slots=True)
class Figures:
    hosts: int
    instances: int
    burst: int
    concurrency: int
    mode: str
    hosts_up_s: float
    create_s: float
    cpu: dict[str, float]
    times: tuple[datetime, datetime, datetime]
    check: tuple[int, int, int, int, int]
    scheduler_started: datetime | None  # --backlog: started once all were created


def start_scheduler(cluster: Cluster) -> datetime:
    started = datetime.now(UTC).replace(tzinfo=None)  # naive UTC, as the store keeps it
    cluster.start("scheduler", "tashi.cmd.scheduler",
                  ["--manager-url", cluster.url, "--log-level", "INFO"],
                  {"TASHI_TOKEN": cluster.admin_token})
    return started


async def measure(cluster: Cluster, args: argparse.Namespace) -> Figures:
    scheduler_started = None
    async with TashiClient(cluster.url, cluster.admin_token, timeout_s=600) as client:
        up_s = await wait_hosts_up(client, args.hosts, args.timeout_s)
        if not args.backlog:
            start_scheduler(cluster)
            await asyncio.sleep(2)  # the scheduler's first (empty) snapshot
        before = cluster.cpu_s()
        create_s = await create_bursts(client, args.instances, args.burst, args.concurrency,
                                       random.Random(args.seed))
        if args.backlog:
            scheduler_started = start_scheduler(cluster)
    await wait_all_bound(cluster.db, args.instances, args.timeout_s)
    after = cluster.cpu_s()
    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    return Figures(args.hosts, args.instances, args.burst, args.concurrency, args.hosts_mode,
                   up_s, create_s, cpu, store_times(cluster.db), overcommit(cluster.db),
                   scheduler_started)


def report(f: Figures) -> None:
    first, first_bound, last_bound = f.times
    span = (last_bound - (f.scheduler_started or first)).total_seconds()
    binding = (last_bound - first_bound).total_seconds()
    bound, over_cores, over_mib, least, most = f.check
    print_table(["hosts", "instances", "burst", "seconds", "placements/s", "bound",
                 "overcommit"],
                [[str(f.hosts), str(f.instances), str(f.burst), f"{span:.2f}",
                  f"{f.instances / span:,.0f}", str(bound),
                  f"{over_cores} cores, {over_mib} MiB"]])
    print(f"\nhosts up {f.hosts_up_s:.1f} s after the manager; creating {f.instances} "
          f"instances, {f.concurrency} requests at a time, took {f.create_s:.2f} s (client "
          "side); first bind "
          f"{(first_bound - first).total_seconds():.2f} s after the first create, the last "
          f"{binding:.2f} s after the first bind")
    if f.scheduler_started is not None:
        lead = (first_bound - f.scheduler_started).total_seconds()
        print(f"backlog: the scheduler was started once all {f.instances} were Pending; "
              f"placements/s counts from its start ({lead:.2f} s before the first bind: "
              "process start and first snapshot)")
    print(f"instances per host: {least}-{most}; CPU seconds used from the first create to "
          "the last bind: " + ", ".join(f"{k} {v:.1f}" for k, v in f.cpu.items()))
    print("overcommit = 0: " + ("yes" if over_cores == over_mib == 0 else "NO"), flush=True)


async def run(args: argparse.Namespace, root: Path) -> Figures:
    cluster = start_manager(root, args.heartbeat_interval)
    bulk: asyncio.Task[None] | None = None
    try:
        if args.hosts_mode == "agents":
            cluster.start("simulate", "tashi.cmd.agent", [
                "simulate", "--hosts", str(args.hosts), "--prefix", "sim-",
                "--cores", str(HOST_CORES), "--memory", str(HOST_MEMORY_MIB),
                "--heartbeat-interval", str(args.heartbeat_interval),
                "--manager-url", cluster.url, "--join-token", JOIN_TOKEN,
                "--log-level", "WARNING"], {})
        else:
            bulk = asyncio.create_task(bulk_hosts(cluster, args.hosts, args.heartbeat_interval))
        return await measure(cluster, args)
    finally:
        if bulk is not None:
            bulk.cancel()
            await asyncio.gather(bulk, return_exceptions=True)
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=20000)
    parser.add_argument("--burst", type=int, default=500, help="instances per create (<=1000)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="create requests in flight at once")
    parser.add_argument("--hosts-mode", choices=["agents", "bulk"], default="agents")
    parser.add_argument("--heartbeat-interval", type=float, default=30.0)
    parser.add_argument("--backlog", action="store_true",
                        help="create every instance first, then start the scheduler: "
                             "placement alone, not placement racing creation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=900.0)
    args = parser.parse_args()
    load = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    how = ("one agent loop per host in one process (tashi-agent simulate), fake driver"
           if args.hosts_mode == "agents" else
           "joined and heartbeated in bulk by the benchmark, no agent loops (nothing starts)")
    print(f"Scheduling end to end: {args.instances} instances in bursts of {args.burst} on "
          f"{args.hosts} simulated hosts ({HOST_CORES} cores, {HOST_MEMORY_MIB // 1024} GiB; "
          f"{how}); manager on sqlite, heartbeats every {args.heartbeat_interval:g} s")
    print(machine_line(load), flush=True)
    with tempfile.TemporaryDirectory(prefix="tashi-sched-") as tmp:
        report(asyncio.run(run(args, Path(tmp))))


if __name__ == "__main__":
    main()
