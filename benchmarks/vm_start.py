"""VM start latency: Tashi (all-in-one cluster) against bare QEMU with the same argv.

    python benchmarks/vm_start.py [--count 10] [--concurrency 2]

It starts an all-in-one cluster in this process (``tashi.embedded.cluster``, the
cluster behind ``tashi up``) on a temporary data directory and a free port, imports the
guest image of ``scripts/build-guest-image.sh``, then runs rounds: ``--concurrency``
VMs through Tashi, then as many bare QEMUs with their argv, and so on until ``--count``
VMs of each kind ran. Interleaving the two kinds keeps a change of the machine's load
during the run from favouring one of them. Per VM it measures, from just before the create call:
the instance reaching ``Running`` (``get_instance`` every 50 ms) and ``TASHI-GUEST-READY``
appearing in the console the manager serves (``console`` every 100 ms); as a
diagnostic, also the marker appearing in the VM's console.log in the agent's state
directory (polled every 100 ms), which leaves out the agent -> manager console report.
Each VM is destroyed once its marker was seen, and gone before the next one starts.

The baseline runs, for each of those VMs, bare ``qemu-system-x86_64`` with the
argv Tashi used (copied from the VM's ``meta.json`` while it ran), its runtime paths
(console log, QMP socket, pidfile, overlay) re-pointed to a directory of the benchmark,
over a fresh overlay of the same base image, and times process launch -> the marker in
the console file (polled every 100 ms). Only ``-name`` changes (``bench-bare-N``, so no
tool mistakes it for a Tashi VM). Same concurrency. Each QEMU is killed after its marker.

Exits 1 if any VM failed. Leaves no QEMU process and no temporary directory behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stats import SUMMARY_HEADERS, Summary, first_line_of, machine_line, print_table, ratio
from stats import summary_row as row
from tashi.agent.drivers.qemu.argv import QEMU_BINARY, opt_value
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, list_instance_ids, live_pid, read_meta
from tashi.api.schemas import ImageOut, InstanceCreate
from tashi.client import TashiClient
from tashi.domain.errors import NotFound, TashiError
from tashi.domain.states import InstanceState
from tashi.embedded.cluster import Cluster, ClusterConfig

REPO = Path(__file__).resolve().parents[1]
BUILD_GUEST_IMAGE = REPO / "scripts" / "build-guest-image.sh"
MARKER = "TASHI-GUEST-READY"
IMAGE_NAME = "guest"
HOST_NAME = "bench-host"
RUNNING_POLL_S = 0.05
CONSOLE_POLL_S = 0.1
GONE_TIMEOUT_S = 60.0
FAILED_STATES = frozenset({InstanceState.HELD, InstanceState.EXITED})

log = logging.getLogger("vm_start")


class BenchError(Exception):
    """A VM of the benchmark did not get where it should."""


@dataclass
class TashiRun:
    index: int
    instance_id: int | None = None
    to_running: float | None = None
    to_marker: float | None = None
    to_file_marker: float | None = None  # the marker in the agent's console.log
    argv: tuple[str, ...] = ()
    runtime_root: Path | None = None
    error: str | None = None


@dataclass
class BareRun:
    index: int
    to_marker: float | None = None
    error: str | None = None


@dataclass
class Context:
    args: argparse.Namespace
    work: Path
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)
    bare_procs: list[asyncio.subprocess.Process] = field(default_factory=list)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def guest_image() -> Path:
    """The guest image (qcow2), built and cached by scripts/build-guest-image.sh."""
    result = subprocess.run(["bash", str(BUILD_GUEST_IMAGE)], capture_output=True, text=True,
                            timeout=1800, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines or not Path(lines[-1]).is_file():
        raise BenchError(f"{BUILD_GUEST_IMAGE} failed ({result.returncode}):\n"
                         f"{result.stderr[-3000:]}")
    return Path(lines[-1])


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


# --- the cluster ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_cluster(data_dir: Path, accel: str) -> AsyncIterator[TashiClient]:
    """An all-in-one cluster in this process; on exit every VM is destroyed, the cluster
    stopped and any QEMU it left behind killed."""
    config = ClusterConfig(data_dir=data_dir, port=free_port(), host=HOST_NAME, accel=accel)
    cluster = Cluster(config)
    ready = asyncio.Event()
    runner = asyncio.create_task(cluster.run(ready=ready, handle_signals=False),
                                 name="cluster")
    try:
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait([runner, waiter], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if runner.done():
            await runner  # raises why it stopped
            raise BenchError("the cluster stopped at start")
        if not ready.is_set() or cluster.admin_token is None:
            raise BenchError("the cluster was not ready after 60 s")
        async with TashiClient(config.url, cluster.admin_token) as client:
            try:
                yield client
            finally:
                await destroy_all(client)
    finally:
        cluster.stop()
        try:
            await asyncio.wait_for(runner, 30)
        except Exception as exc:
            log.warning("cluster stopped with %r", exc)
        kill_leftovers(data_dir / "agent" / "qemu")


async def destroy_all(client: TashiClient) -> None:
    try:
        instances = await client.list_instances()
    except TashiError as exc:
        log.warning("cannot list instances to destroy: %s", exc)
        return
    await asyncio.gather(*(destroy_and_wait(client, i.id) for i in instances),
                         return_exceptions=True)


def kill_leftovers(qemu_state_dir: Path) -> None:
    """SIGKILL every live QEMU the cluster's agent started (found by its pidfiles)."""
    for instance_id in list_instance_ids(qemu_state_dir):
        pid = live_pid(RuntimeLayout.of(qemu_state_dir, instance_id), instance_id)
        if pid is not None:
            log.warning("instance %d: QEMU %d still running; killing it", instance_id, pid)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


async def destroy_and_wait(client: TashiClient, instance_id: int) -> None:
    """Destroy the instance and wait until its record is gone (its VM with it)."""
    with contextlib.suppress(NotFound):
        await client.destroy_instance(instance_id)
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            await client.get_instance(instance_id)
        except NotFound:
            return
        await asyncio.sleep(0.1)
    raise BenchError(f"instance {instance_id} still there {GONE_TIMEOUT_S} s after destroy")


# --- Tashi VMs ------------------------------------------------------------------------------


async def wait_running(client: TashiClient, instance_id: int, t0: float) -> float:
    while True:
        inst = await client.get_instance(instance_id)
        if inst.state is InstanceState.RUNNING:
            return time.monotonic() - t0
        if inst.state in FAILED_STATES:
            raise BenchError(f"instance {instance_id} is {inst.state}: {inst.message}")
        await asyncio.sleep(RUNNING_POLL_S)


async def wait_tashi_marker(client: TashiClient, instance_id: int, t0: float) -> float:
    while True:
        if MARKER in await client.console(instance_id):
            return time.monotonic() - t0
        await asyncio.sleep(CONSOLE_POLL_S)


async def tashi_vm(ctx: Context, client: TashiClient, qemu_state_dir: Path, index: int,
                   slots: asyncio.Semaphore) -> TashiRun:
    run = TashiRun(index)
    async with slots:
        t0 = time.monotonic()
        try:
            inst = await client.create_instance(InstanceCreate(
                name=f"bench-{index}", image=IMAGE_NAME, cores=1,
                memory_mib=ctx.args.memory_mib))
        except TashiError as exc:
            run.error = f"create failed: {exc}"
            return run
        run.instance_id = inst.id
        layout = RuntimeLayout.of(qemu_state_dir, inst.id)
        running = asyncio.create_task(wait_running(client, inst.id, t0))
        marker = asyncio.create_task(wait_tashi_marker(client, inst.id, t0))
        file_marker = asyncio.create_task(wait_file_marker(layout.console_log, None, t0))
        try:
            async with asyncio.timeout(ctx.args.timeout_s):
                run.to_running = await running
                meta = read_meta(layout)  # while it runs
                if meta is None:
                    raise BenchError(f"instance {inst.id}: no meta.json in {layout.root}")
                run.argv, run.runtime_root = meta.argv, layout.root
                run.to_marker = await marker
                run.to_file_marker = await file_marker
        except TimeoutError:
            run.error = (f"instance {inst.id}: timed out after {ctx.args.timeout_s} s "
                         f"(Running after {run.to_running} s)")
        except (BenchError, TashiError) as exc:
            run.error = str(exc)
        finally:
            for task in (running, marker, file_marker):
                task.cancel()
            await asyncio.gather(running, marker, file_marker, return_exceptions=True)
            try:
                await destroy_and_wait(client, inst.id)
            except (BenchError, TashiError) as exc:
                run.error = run.error or f"destroy failed: {exc}"
    progress(f"tashi #{index} (instance {run.instance_id}): "
             + (f"Running {run.to_running:.2f} s, {MARKER} {run.to_marker:.2f} s"
                if run.error is None else f"FAILED: {run.error}"))
    return run


# --- bare QEMU ----------------------------------------------------------------------------


def repoint(argv: Sequence[str], old_root: Path, new_root: Path, name: str) -> list[str]:
    """``argv`` with every path under ``old_root`` moved under ``new_root`` and ``-name``
    set to ``name``. Raises BenchError unless the four runtime paths were re-pointed
    and nothing still points into ``old_root``."""
    pairs = [(str(old_root) + "/", str(new_root) + "/"),
             (opt_value(old_root) + "/", opt_value(new_root) + "/")]
    out = []
    for arg in argv:
        for old, new in pairs:
            arg = arg.replace(old, new)
        out.append(arg)
    try:
        out[out.index("-name") + 1] = name
    except (ValueError, IndexError):
        raise BenchError(f"no -name in {argv}") from None
    old_layout, new_layout = RuntimeLayout(old_root), RuntimeLayout(new_root)
    for old_path, new_path in ((old_layout.console_log, new_layout.console_log),
                               (old_layout.qmp_socket, new_layout.qmp_socket),
                               (old_layout.pidfile, new_layout.pidfile),
                               (old_layout.overlay(0), new_layout.overlay(0))):
        if not any(opt_value(new_path) in arg for arg in out):
            raise BenchError(f"{old_path.name}: not found in Tashi's argv {list(argv)}")
    stale = [arg for arg in out if str(old_root) in arg or opt_value(old_root) in arg]
    if stale:
        raise BenchError(f"arguments still pointing into {old_root}: {stale}")
    return out


async def run_checked(argv: Sequence[str]) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {out.decode()}")


async def wait_file_marker(path: Path, proc: asyncio.subprocess.Process | None,
                           t0: float) -> float:
    """Seconds since ``t0`` until the marker is in the console file ``path``; raises
    BenchError if ``proc`` (when given) exits first."""
    while True:
        with contextlib.suppress(FileNotFoundError):
            if MARKER.encode() in await asyncio.to_thread(path.read_bytes):
                return time.monotonic() - t0
        if proc is not None and proc.returncode is not None:
            qemu_log = RuntimeLayout(path.parent).qemu_log
            tail = (await asyncio.to_thread(qemu_log.read_bytes))[-2000:]
            raise BenchError(f"QEMU exited with {proc.returncode}:\n"
                             f"{tail.decode(errors='replace')}")
        await asyncio.sleep(CONSOLE_POLL_S)


async def bare_vm(ctx: Context, source: TashiRun, base: Path, base_format: str,
                  slots: asyncio.Semaphore) -> BareRun:
    run = BareRun(source.index)
    assert source.runtime_root is not None
    root = ctx.work / f"bare-{source.index}"
    layout = RuntimeLayout(root)
    async with slots:
        proc: asyncio.subprocess.Process | None = None
        try:
            root.mkdir(mode=0o700)
            argv = repoint(source.argv, source.runtime_root, root, f"bench-bare-{source.index}")
            await run_checked(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format,
                               "-b", str(base), str(layout.overlay(0))])
            with layout.qemu_log.open("ab") as qemu_log:
                t0 = time.monotonic()
                proc = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=qemu_log,
                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
            ctx.bare_procs.append(proc)
            async with asyncio.timeout(ctx.args.timeout_s):
                run.to_marker = await wait_file_marker(layout.console_log, proc, t0)
        except TimeoutError:
            run.error = f"no {MARKER} after {ctx.args.timeout_s} s"
        except (BenchError, OSError) as exc:
            run.error = str(exc)
        finally:
            if proc is not None:
                await kill(proc)
            shutil.rmtree(root, ignore_errors=True)
    progress(f"bare  #{source.index}: "
             + (f"{MARKER} {run.to_marker:.2f} s" if run.error is None
                else f"FAILED: {run.error}"))
    return run


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


# --- the whole run ---------------------------------------------------------------------------


def accelerator_of(argv: Sequence[str]) -> str:
    try:
        return argv[list(argv).index("-accel") + 1]
    except (ValueError, IndexError):
        return "unknown"


async def measure(ctx: Context) -> int:
    args = ctx.args
    image = guest_image()
    data_dir = ctx.work / "data"
    qemu_state_dir = data_dir / "agent" / "qemu"
    async with running_cluster(data_dir, args.accel) as client:
        imported: ImageOut = await client.upload_image(IMAGE_NAME, file_chunks(image))
        base = data_dir / "images" / imported.name  # OWNER/NAME
        if not base.is_file():
            raise BenchError(f"the imported image is not at {base}")
        slots = asyncio.Semaphore(args.concurrency)
        tashi: list[TashiRun] = []
        bare: list[BareRun] = []
        for first in range(1, args.count + 1, args.concurrency):
            batch = range(first, min(first + args.concurrency, args.count + 1))
            progress(f"round {first // args.concurrency + 1}: VMs {batch.start}-"
                     f"{batch.stop - 1} through Tashi, then bare QEMU with their argv")
            runs = list(await asyncio.gather(*(tashi_vm(ctx, client, qemu_state_dir, i,
                                                        slots) for i in batch)))
            tashi += runs
            bare += await asyncio.gather(*(bare_vm(ctx, r, base, str(imported.format), slots)
                                           for r in runs if r.argv and r.runtime_root))
        sources = [r for r in tashi if r.argv and r.runtime_root is not None]
    report(args, image, tashi, bare, ctx.load)
    failures = [r.error for r in tashi if r.error] + [r.error for r in bare if r.error]
    failures += ["no argv captured"] * (len(tashi) - len(sources))
    if failures:
        print(f"\n{len(failures)} VM(s) FAILED", flush=True)
        return 1
    return 0


def report(args: argparse.Namespace, image: Path, tashi: list[TashiRun],
           bare: list[BareRun], load: tuple[float, float, float]) -> None:
    accel = next((accelerator_of(r.argv) for r in tashi if r.argv), "unknown")
    running = [r.to_running for r in tashi if r.to_running is not None and r.error is None]
    tashi_marker = [r.to_marker for r in tashi if r.to_marker is not None and r.error is None]
    file_marker = [r.to_file_marker for r in tashi
                   if r.to_file_marker is not None and r.error is None]
    bare_marker = [r.to_marker for r in bare if r.to_marker is not None and r.error is None]
    print(f"\nVM start: {args.count} VMs, concurrency {args.concurrency}, "
          f"{args.memory_mib} MiB, 1 vCPU, guest {image}")
    print(f"accelerator: {accel}; {first_line_of([QEMU_BINARY, '--version'])}")
    print(machine_line(load))
    print(f"times in seconds; polls: Running every {RUNNING_POLL_S * 1000:.0f} ms, "
          f"console every {CONSOLE_POLL_S * 1000:.0f} ms\n")
    print_table(SUMMARY_HEADERS, [
        row("Tashi: create -> Running", running),
        row(f"Tashi: create -> {MARKER}", tashi_marker),
        row("  (same, marker in agent's console.log)", file_marker),
        row(f"bare QEMU: launch -> {MARKER}", bare_marker),
    ])
    if tashi_marker and bare_marker:
        t, b = Summary.of(tashi_marker), Summary.of(bare_marker)
        print(f"\nTashi/bare ({MARKER}): P50 {ratio(t.p50, b.p50)} "
              f"({t.p50 - b.p50:+.3f} s), P95 {ratio(t.p95, b.p95)} ({t.p95 - b.p95:+.3f} s)")
    if running:
        r = Summary.of(running)
        print(f"Tashi create -> Running: P50 {r.p50:.3f} s, P95 {r.p95:.3f} s")
    sys.stdout.flush()


async def main_async(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    work = Path(tempfile.mkdtemp(prefix="tashi-bench-"))
    ctx = Context(args, work)
    cluster_log = work / "cluster.log"
    handler = logging.FileHandler(cluster_log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    ok = False
    try:
        code = await measure(ctx)
        ok = code == 0
        return code
    finally:
        for proc in ctx.bare_procs:
            await kill(proc)
        handler.close()
        if not ok and cluster_log.exists():
            tail = cluster_log.read_text(errors="replace").splitlines()[-40:]
            progress("--- last lines of the cluster's log ---\n" + "\n".join(tail))
        shutil.rmtree(work, ignore_errors=True)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10, help="VMs of each kind (default 10)")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="VMs booting at once (default 2)")
    parser.add_argument("--memory-mib", type=int, default=128, help="guest memory (128)")
    parser.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                        help="the cluster's accelerator choice (default auto, as tashi up)")
    parser.add_argument("--timeout-s", type=float, default=180.0,
                        help="per VM, create/launch -> marker (default 180)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.concurrency < 1:
        parser.error("--count and --concurrency must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    try:
        return asyncio.run(main_async(args))
    except BenchError as exc:
        print(f"vm_start: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("vm_start: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
