"""Live migration: Tashi (``tashi up --hosts 2``) against the same QMP migration between
two bare QEMUs in the same two host namespaces, in the same run.

    python benchmarks/migrate.py [--count 5] [--sizes 128,512] [--timeout-s 180]

It starts ``tashi up --hosts 2`` as a process (a temporary data directory, a free
loopback port): the manager and the scheduler, hosts ``h1`` and ``h2`` each an agent in
a network namespace of its own on the cluster's LAN namespace. It imports the guest of
``scripts/build-guest-image.sh``, then per guest size (1 vCPU, ``--sizes`` MiB):

- Tashi: a VM created on ``h1``, until ``TASHI-GUEST-READY`` is in its console file (the
  bare VM below boots at the same time, so both are as old when they first move); then
  an untimed warm-up round and ``--count`` rounds, each ``h1 -> h2`` and back
  (``migrate_instance``, what ``tashi vm migrate --to`` sends). Per migration: QEMU's
  total time and downtime as the instance's ``last_migration`` reports them, and the
  wall time from the call until the instance is ``Running`` on the target
  (``get_instance`` every 20 ms).
- Bare: ``qemu-system-x86_64`` with the argv Tashi used (from the VM's ``meta.json`` on
  its source, and on its target for the waiting side, ``-incoming defer``), runtime
  paths re-pointed to the benchmark's directory, each started in the host's namespace
  (``ip netns exec``) over a fresh overlay. The migration Tashi's driver makes, over
  QMP directly on the hosts' LAN addresses: the target's disks exported over NBD, each
  writable disk mirrored there (``blockdev-mirror``, ``write-blocking``), capabilities
  ``events`` and ``pause-before-switchover``, ``downtime-limit`` 30 ms, unlimited
  bandwidth, ``migrate``; at ``pre-switchover`` the mirrors completed
  (``block-job-cancel``) and ``migrate-continue``; total time and downtime from
  ``query-migrate`` once the source is ``postmigrate``. ``query-migrate`` is polled
  every 5 ms, as Tashi's driver polls it. Wall time: from launching the target QEMU
  until it runs.

The rounds interleave: Tashi there, bare there, Tashi back, bare back, so a change of
the machine's load favours neither. The warm-up round is there because in trial runs the
first migration of a run was 2-4x slower than the others, whichever kind went first.
Prints n, P50, P95, min, max per figure, the Tashi/bare ratio of P50 total time (target
<= 1.1x) and the downtime through Tashi (target <= 30 ms). Exits 1 if any migration
failed. Every VM is destroyed, every bare QEMU killed, ``tashi up`` stopped with SIGINT
(it removes its namespaces) and the temporary directory removed, also on failure,
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

from stats import SUMMARY_HEADERS, Summary, first_line_of, machine_line, print_table, ratio
from stats import summary_row as row
from suspend import wait_qmp
from tashi.agent.drivers.qemu.argv import QEMU_BINARY
from tashi.agent.drivers.qemu.qmp import QmpSession, qmp_session
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, live_pid, read_meta
from tashi.api.schemas import InstanceCreate
from tashi.api.schemas.migration import MigrateIn
from tashi.client import TashiClient
from tashi.domain.errors import DriverError, TashiError
from tashi.domain.states import InstanceState
from tashi.embedded import netns
from vm_start import (
    IMAGE_NAME,
    MARKER,
    BenchError,
    accelerator_of,
    destroy_and_wait,
    file_chunks,
    free_port,
    guest_image,
    kill,
    kill_leftovers,
    progress,
    repoint,
    run_checked,
    wait_file_marker,
)

HOSTS = ("h1", "h2")
API_POLL_S = 0.02
QMP_POLL_S = 0.005  # as Tashi's driver polls query-migrate (migration.POLL_S)
DOWNTIME_LIMIT_MS = 30  # Tashi's default max downtime (QEMU's downtime-limit)
UNLIMITED = 64 * 1024**3  # bytes/s, as Tashi's driver sets it for "no limit"
RATIO_TARGET = 1.1
DOWNTIME_TARGET_MS = 30
UP_TIMEOUT_S = 120.0
log = logging.getLogger("migrate")


@dataclass
class Figures:
    """Per migration: QEMU's total time and downtime (ms), the wall time (s), direction."""

    total_ms: list[float] = field(default_factory=list)
    downtime_ms: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    way: list[str] = field(default_factory=list)

    def add(self, total_ms: float, downtime_ms: float, wall_s: float, way: str) -> None:
        self.total_ms.append(total_ms)
        self.downtime_ms.append(downtime_ms)
        self.wall_s.append(wall_s)
        self.way.append(way)

    def downtime_of(self, way: str) -> list[float]:
        return [d for d, w in zip(self.downtime_ms, self.way, strict=True) if w == way]


# --- the cluster: tashi up --hosts 2 ---------------------------------------------------------


@dataclass
class Up:
    """A ``tashi up --hosts 2`` process on ``data`` and what it made."""

    data: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: asyncio.subprocess.Process | None = None
    layout: netns.Layout | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def host_dir(self, host: str) -> Path:
        return self.data / "hosts" / host

    def runtime(self, host: str, instance_id: int) -> RuntimeLayout:
        return RuntimeLayout.of(self.host_dir(host) / "qemu", instance_id)

    def namespace(self, host: str) -> str:
        assert self.layout is not None
        return self.layout.host_ns(HOSTS.index(host) + 1)

    def address(self, host: str) -> str:
        assert self.layout is not None
        return str(self.layout.address(HOSTS.index(host) + 1))

    def free_port(self, host: str) -> int:
        """A TCP port free now on ``host``'s address, in its namespace."""
        with netns.listening_socket_in(self.namespace(host), self.address(host), 0) as s:
            return int(s.getsockname()[1])

    async def start(self) -> TashiClient:
        argv = [str(Path(sys.executable).parent / "tashi"), "up", "--hosts", str(len(HOSTS)),
                "--data-dir", str(self.data), "--port", str(self.port)]
        with self.log_path.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True)  # our Ctrl-C
        token_file = self.data / "admin.token"
        deadline = time.monotonic() + UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise BenchError(f"tashi up exited with {self.proc.returncode}:\n{self.tail()}")
            if token_file.exists() and token_file.read_text().strip():
                client = TashiClient(self.url, token_file.read_text().strip())
                with contextlib.suppress(TashiError, OSError):
                    hosts = await client.list_hosts()
                    if sorted(h.name for h in hosts if h.up and h.capabilities) == list(HOSTS):
                        doc = json.loads((self.data / "hosts" / "network.json").read_text())
                        self.layout = netns.Layout(doc["id"], IPv4Network(doc["subnet"]),
                                                   len(HOSTS))
                        return client
                await client.aclose()
            await asyncio.sleep(0.3)
        raise BenchError(f"hosts {HOSTS} not up after {UP_TIMEOUT_S} s:\n{self.tail()}")

    async def stop(self) -> None:
        """Ctrl-C (SIGINT) to ``tashi up`` and a wait; then whatever it left is removed."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except TimeoutError:
                log.warning("tashi up did not stop in 60 s: killing it")
                await kill(self.proc)
            if self.proc.returncode != 0:
                progress(f"tashi up exited with {self.proc.returncode}")
        for host in HOSTS:
            kill_leftovers(self.host_dir(host) / "qemu")
        left = netns.remove_namespaces(netns.namespace_prefix(netns.cluster_id(self.data)))
        if left:
            progress(f"removed network namespaces tashi up left: {', '.join(left)}")

    def tail(self) -> str:
        logs = [self.log_path, self.data / "tashi-up.log",
                *(self.host_dir(h) / "agent.log" for h in HOSTS)]
        return "\n".join(f"--- {p}:\n" + "\n".join(
            p.read_text(errors="replace").splitlines()[-25:]) for p in logs if p.exists())


# --- through Tashi ---------------------------------------------------------------------------


async def tashi_migrate(client: TashiClient, up: Up, instance_id: int, source: str,
                        target: str, figures: Figures, timeout_s: float) -> tuple[str, ...]:
    """One migration through the API; the argv of the VM on the target."""
    t0 = time.monotonic()
    asked = await client.migrate_instance(instance_id, MigrateIn(to=target))
    if asked.migration is None:
        raise BenchError(f"migration not started: {asked.state} {asked.message}")
    number = asked.migration.number
    while True:
        inst = await client.get_instance(instance_id)
        done = inst.last_migration
        if (done is not None and done.number == number and inst.migration is None
                and inst.state is InstanceState.RUNNING):
            wall = time.monotonic() - t0
            break
        if inst.migration is None and (done is None or done.number != number):
            raise BenchError(f"Tashi migration {number} ended: "
                             f"{inst.last_failure or inst.message}")
        if time.monotonic() - t0 > timeout_s:
            raise BenchError(f"Tashi migration {number} not done after {timeout_s} s")
        await asyncio.sleep(API_POLL_S)
    if inst.host != target or (done.source, done.target) != (source, target):
        raise BenchError(f"migration {number}: {done.source} -> {done.target}, on {inst.host}")
    figures.add(done.total_ms, done.downtime_ms, wall, f"{source}->{target}")
    progress(f"  tashi {source}->{target}: total {done.total_ms} ms, downtime "
             f"{done.downtime_ms} ms, wall {wall:.3f} s")
    meta = read_meta(up.runtime(target, instance_id))
    old = up.runtime(source, instance_id)
    deadline = time.monotonic() + 60  # untimed: the source's paused copy goes
    while live_pid(old, instance_id) is not None:
        if time.monotonic() > deadline:
            raise BenchError(f"the source's copy on {source} still runs 60 s after")
        await asyncio.sleep(0.1)
    if meta is None:
        raise BenchError(f"no meta.json of instance {instance_id} on {target}")
    return meta.argv


# --- bare QEMU over QMP ------------------------------------------------------------------


@dataclass
class Bare:
    proc: asyncio.subprocess.Process
    root: Path
    host: str

    @property
    def qmp(self) -> Path:
        return RuntimeLayout(self.root).qmp_socket


@dataclass
class BareSide:
    """What a bare QEMU is started from: Tashi's argv of it and its runtime root."""

    argv: tuple[str, ...]
    root: Path


@dataclass
class Context:
    args: argparse.Namespace
    work: Path
    up: Up
    base: Path
    base_format: str
    bare: list[Bare] = field(default_factory=list)
    launched: int = 0
    accel: str = "unknown"


async def launch_bare(ctx: Context, side: BareSide, host: str) -> Bare:
    ctx.launched += 1
    root = ctx.work / f"bare-{ctx.launched}"
    root.mkdir(mode=0o700)
    argv = repoint(side.argv, side.root, root, f"bench-bare-{ctx.launched}")
    layout = RuntimeLayout(root)
    await run_checked(["qemu-img", "create", "-q", "-f", "qcow2", "-F", ctx.base_format,
                       "-b", str(ctx.base), str(layout.overlay(0))])
    with layout.qemu_log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ctx.up.namespace(host), *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
    bare = Bare(proc, root, host)
    ctx.bare.append(bare)
    return bare


async def end_bare(ctx: Context, bare: Bare) -> None:
    await kill(bare.proc)
    shutil.rmtree(bare.root, ignore_errors=True)
    with contextlib.suppress(ValueError):
        ctx.bare.remove(bare)


def disks_of(block: object) -> dict[str, tuple[str, bool]]:
    """``query-block``: the writable disks, device -> (top node, whether it is backed)."""
    out = {}
    for b in block if isinstance(block, list) else []:
        inserted = b.get("inserted") if isinstance(b, Mapping) else None
        if isinstance(inserted, Mapping) and not inserted.get("ro"):
            out[str(b["device"])] = (str(inserted["node-name"]),
                                     bool(inserted.get("backing_file")))
    return out


async def block_jobs(qmp: QmpSession) -> list[Mapping[str, object]]:
    jobs = await qmp.execute("query-block-jobs")
    return [j for j in jobs if isinstance(j, Mapping)] if isinstance(jobs, list) else []


async def until_status(qmp: QmpSession, want: str, t0: float, timeout_s: float) -> None:
    while True:
        status = await qmp.status()
        if status == want:
            return
        if time.monotonic() - t0 > timeout_s:
            raise BenchError(f"bare QEMU still {status}, not {want}, after {timeout_s} s")
        await asyncio.sleep(QMP_POLL_S)


def capabilities(source: bool) -> dict[str, object]:
    caps = [("events", True), ("postcopy-ram", False)]
    if source:
        caps += [("pause-before-switchover", True), ("auto-converge", False)]
    return {"capabilities": [{"capability": c, "state": on} for c, on in caps]}


async def bare_migrate(ctx: Context, src: Bare, target_side: BareSide, target: str,
                       figures: Figures) -> Bare:
    """The VM of ``src`` migrated to a new bare QEMU on ``target``; that QEMU."""
    timeout_s = ctx.args.timeout_s
    t0 = time.monotonic()
    dst = await launch_bare(ctx, target_side, target)
    await wait_qmp(dst.qmp, dst.proc, timeout_s)
    address = ctx.up.address(target)
    nbd_port, port = ctx.up.free_port(target), ctx.up.free_port(target)
    uri = f"tcp:{address}:{port}"
    async with qmp_session(dst.qmp) as tq, qmp_session(src.qmp) as sq:
        exported = disks_of(await tq.execute("query-block"))
        await tq.execute("nbd-server-start", {"addr": {"type": "inet", "data": {
            "host": address, "port": str(nbd_port)}}})
        for device, (node, _) in exported.items():
            await tq.execute("block-export-add", {"type": "nbd", "id": f"export-{device}",
                                                  "node-name": node, "name": device,
                                                  "writable": True})
        await tq.execute("migrate-set-capabilities", capabilities(source=False))
        await tq.execute("migrate-incoming", {"uri": uri})
        for device, (_, backed) in disks_of(await sq.execute("query-block")).items():
            await sq.execute("blockdev-add", {
                "driver": "nbd", "node-name": f"bench-nbd-{device}", "export": device,
                "server": {"type": "inet", "host": address, "port": str(nbd_port)}})
            await sq.execute("blockdev-mirror", {
                "job-id": f"bench-mirror-{device}", "device": device,
                "target": f"bench-nbd-{device}", "sync": "top" if backed else "full",
                "copy-mode": "write-blocking"})
        while not all(j.get("ready") for j in await block_jobs(sq)):
            if time.monotonic() - t0 > timeout_s:
                raise BenchError("bare: the disk mirrors never got ready")
            await asyncio.sleep(0.01)
        await sq.execute("migrate-set-capabilities", capabilities(source=True))
        await sq.execute("migrate-set-parameters", {"downtime-limit": DOWNTIME_LIMIT_MS,
                                                    "max-bandwidth": UNLIMITED})
        await sq.execute("migrate", {"uri": uri})
        while True:
            info = await sq.execute("query-migrate")
            status = info.get("status") if isinstance(info, Mapping) else None
            if status == "completed":
                break
            if status == "pre-switchover":
                jobs = await block_jobs(sq)
                for job in jobs:
                    await sq.execute("block-job-cancel", {"device": job["device"]})
                for _ in range(2000):
                    if not await block_jobs(sq):
                        break
                    await asyncio.sleep(0.001)
                else:
                    raise BenchError("bare: the mirrors did not complete at the switchover")
                await sq.execute("migrate-continue", {"state": "pre-switchover"})
            elif status in ("failed", "cancelled", None):
                raise BenchError(f"bare migration {status}: {info}")
            if time.monotonic() - t0 > timeout_s:
                raise BenchError(f"bare migration still {status} after {timeout_s} s")
            await asyncio.sleep(QMP_POLL_S)
        await until_status(sq, "postmigrate", t0, timeout_s)  # QEMU's figures are there then
        info = await sq.execute("query-migrate")
        assert isinstance(info, Mapping)
        await until_status(tq, "running", t0, timeout_s)
        wall = time.monotonic() - t0
        for device in exported:  # untimed: the target runs; its exports go
            await tq.execute("block-export-del", {"id": f"export-{device}", "mode": "hard"})
        await tq.execute("nbd-server-stop")
    way = f"{src.host}->{target}"
    figures.add(float(info["total-time"]), float(info["downtime"]), wall, way)
    progress(f"  bare  {way}: total {info['total-time']} ms, downtime "
             f"{info['downtime']} ms, wall {wall:.3f} s")
    await end_bare(ctx, src)
    return dst


# --- one guest size ------------------------------------------------------------------------


async def run_size(ctx: Context, client: TashiClient, memory_mib: int,
                   results: tuple[Figures, Figures]) -> None:
    tashi, bare = results
    up, timeout_s = ctx.up, ctx.args.timeout_s
    inst = await client.create_instance(InstanceCreate(
        name=f"bench-{memory_mib}", image=IMAGE_NAME, cores=1, memory_mib=memory_mib,
        host=HOSTS[0]))
    try:
        t0 = time.monotonic()
        layout = up.runtime(HOSTS[0], inst.id)
        meta = None
        while meta is None:  # its argv, as soon as its QEMU runs
            if time.monotonic() - t0 > timeout_s:
                raise BenchError(f"instance {inst.id}: no meta.json in {layout.root}")
            await asyncio.sleep(API_POLL_S)
            meta = read_meta(layout) if layout.pidfile.exists() else None
        ctx.accel = accelerator_of(meta.argv)
        src = await launch_bare(ctx, BareSide(meta.argv, layout.root), HOSTS[0])
        t1 = time.monotonic()  # both boot at once: as old when they first move
        boot, boot_bare = await asyncio.wait_for(asyncio.gather(
            wait_file_marker(layout.console_log, None, t0),
            wait_file_marker(RuntimeLayout(src.root).console_log, src.proc, t1)), timeout_s)
        progress(f"{memory_mib} MiB: Tashi VM {inst.id} {MARKER} after {boot:.1f} s, "
                 f"bare after {boot_bare:.1f} s")
        for index in range(ctx.args.count + 1):  # round 0: a warm-up, not counted
            progress(f"{memory_mib} MiB, round {index}/{ctx.args.count}"
                     + (" (warm-up, not counted):" if index == 0 else ":"))
            for source, target in (HOSTS, HOSTS[::-1]):
                argv = await tashi_migrate(client, up, inst.id, source, target,
                                           tashi if index else Figures(), timeout_s)
                waiting = BareSide(argv, up.runtime(target, inst.id).root)  # -incoming
                src = await bare_migrate(ctx, src, waiting, target,
                                         bare if index else Figures())
    finally:
        for left in list(ctx.bare):  # the last target, or any a failure left
            await end_bare(ctx, left)
        await destroy_and_wait(client, inst.id)


# --- the whole run ---------------------------------------------------------------------------


async def measure(args: argparse.Namespace, work: Path) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # cleans up
    load = os.getloadavg()
    image = guest_image()
    up = Up(work / "data", work / "up.log")
    results: dict[int, tuple[Figures, Figures]] = {}
    failures: list[str] = []
    ctx: Context | None = None
    client: TashiClient | None = None
    try:
        client = await up.start()
        progress(f"tashi up --hosts 2 on {up.url}: {HOSTS[0]} {up.address(HOSTS[0])}, "
                 f"{HOSTS[1]} {up.address(HOSTS[1])}")
        imported = await client.upload_image(IMAGE_NAME, file_chunks(image))
        ctx = Context(args, work, up, up.data / "images" / imported.name,
                      str(imported.format))
        for memory_mib in args.sizes:
            figures = results.setdefault(memory_mib, (Figures(), Figures()))
            try:
                await run_size(ctx, client, memory_mib, figures)
            except (BenchError, TashiError, DriverError, TimeoutError, OSError, KeyError) as exc:
                failures.append(f"{memory_mib} MiB: {exc!r}")
                progress(f"{memory_mib} MiB: FAILED: {exc!r}")
    finally:
        if ctx is not None:
            for bare in list(ctx.bare):
                await end_bare(ctx, bare)
        if client is not None:
            await client.aclose()
        await up.stop()
    if failures:
        progress(up.tail())
    report(args, image, results, load, ctx.accel if ctx is not None else "unknown")
    for failure in failures:
        print(f"FAILED: {failure}", flush=True)
    return 1 if failures else 0


def report(args: argparse.Namespace, image: Path, results: dict[int, tuple[Figures, Figures]],
           load: tuple[float, float, float], accel: str) -> None:
    print(f"\nLive migration: Tashi (tashi up --hosts 2, hosts in network namespaces) against "
          f"the same QMP migration between bare QEMUs in the same namespaces; {args.count} "
          f"rounds {HOSTS[0]}->{HOSTS[1]}->{HOSTS[0]} per size, 1 vCPU, idle guest "
          f"{image.name}")
    print(f"accelerator: {accel}; "
          f"{first_line_of([QEMU_BINARY, '--version'])}")
    print(machine_line(load) + "; at end: "
          + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("total/downtime: QEMU's (query-migrate) in ms; wall in s: Tashi from the migrate "
          "call to Running on the target, bare from the target QEMU's launch to running\n")
    rows: list[list[str]] = []
    verdicts: list[str] = []
    for size, (tashi, bare) in results.items():
        for label, figures in (("Tashi", tashi), ("bare", bare)):
            rows.append(row(f"{size} MiB {label}: total time (ms)", figures.total_ms, 1))
        for label, figures in (("Tashi", tashi), ("bare", bare)):
            rows.append(row(f"{size} MiB {label}: downtime (ms)", figures.downtime_ms, 1))
            for way in (f"{HOSTS[0]}->{HOSTS[1]}", f"{HOSTS[1]}->{HOSTS[0]}"):
                rows.append(row(f"  {way}", figures.downtime_of(way), 1))
        for label, figures in (("Tashi", tashi), ("bare", bare)):
            rows.append(row(f"{size} MiB {label}: wall (s)", figures.wall_s, 3))
        if tashi.total_ms and bare.total_ms:
            t, b = Summary.of(tashi.total_ms), Summary.of(bare.total_ms)
            met = "met" if t.p50 <= RATIO_TARGET * b.p50 else "NOT met"
            verdicts.append(f"{size} MiB: Tashi/bare total time P50 {ratio(t.p50, b.p50)} "
                            f"({t.p50 - b.p50:+.1f} ms), P95 {ratio(t.p95, b.p95)}; "
                            f"target <= {RATIO_TARGET}x: {met}")
        if tashi.downtime_ms:
            d = Summary.of(tashi.downtime_ms)
            met = ", ".join(f"{name} {'met' if v <= DOWNTIME_TARGET_MS else 'NOT met'}"
                            for name, v in (("P50", d.p50), ("P95", d.p95), ("max", d.max)))
            b_d = (f" (bare: P95 {Summary.of(bare.downtime_ms).p95:.1f}, max "
                   f"{Summary.of(bare.downtime_ms).max:.0f})" if bare.downtime_ms else "")
            verdicts.append(f"{size} MiB: downtime through Tashi P50 {d.p50:.1f}, P95 "
                            f"{d.p95:.1f}, max {d.max:.0f} ms{b_d}; target <= "
                            f"{DOWNTIME_TARGET_MS} ms: {met}")
        if tashi.wall_s and bare.wall_s:
            verdicts.append(f"{size} MiB: wall Tashi/bare P50 "
                            f"{ratio(Summary.of(tashi.wall_s).p50, Summary.of(bare.wall_s).p50)}")
    print_table(SUMMARY_HEADERS, rows)
    print("\n" + "\n".join(verdicts), flush=True)


def sizes(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of MiB: {text!r}") from None
    if not values or min(values) < 64:
        raise argparse.ArgumentTypeError(f"sizes must be at least 64 MiB: {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5,
                        help="rounds there and back per size (default 5)")
    parser.add_argument("--sizes", type=sizes, default=[128, 512],
                        help="guest memory sizes in MiB (default 128,512)")
    parser.add_argument("--timeout-s", type=float, default=180.0,
                        help="per boot and per migration (default 180)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("migrate: tashi up --hosts 2 needs root (network namespaces)", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tashi-bench-migrate-") as work:
        try:
            return asyncio.run(measure(args, Path(work)))
        except BenchError as exc:
            print(f"migrate: {exc}", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("migrate: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
