"""Suspend and resume: Tashi (all-in-one cluster) against the same QMP save and restore
done directly on a bare QEMU with the same argv, in the same run.

    python benchmarks/suspend.py [--count 3] [--memory 128,512]

For each memory size, ``--count`` rounds, each one Tashi VM then one bare QEMU:

- Tashi: create the VM (``tashi.embedded.cluster``, the cluster behind ``tashi up``),
  wait for ``TASHI-GUEST-READY`` on its console; then from just before the call,
  ``suspend`` until the instance is ``Suspended`` (its QEMU ended, its claim freed),
  and ``resume`` until it is ``Running`` again (placed by the scheduler, restored by
  the agent); ``get_instance`` every 20 ms.
- Bare: ``qemu-system-x86_64`` with the argv Tashi used (from its ``meta.json``), paths
  re-pointed to a directory of the benchmark, over a fresh overlay, until the marker;
  then suspend: QMP ``stop``, ``migrate`` to ``exec:cat > file``, ``query-migrate``
  every 20 ms until completed, ``quit``, the process gone; resume: the same argv with
  ``-incoming defer``, QMP up, ``migrate-incoming`` from the file, until it runs.

Prints P50 (and max) seconds per size and operation and the ratio Tashi / bare (target
<= 1.2x), with the size of the saved state. Exits 1 if any VM failed. Leaves no QEMU
process and no temporary directory behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from stats import SUMMARY_HEADERS, Summary, machine_line, print_table, ratio
from stats import summary_row as row
from tashi.agent.drivers.qemu.qmp import qmp_execute, query_status
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, read_meta
from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.domain.errors import DriverError, TashiError
from tashi.domain.states import InstanceState
from vm_start import (
    IMAGE_NAME,
    MARKER,
    BenchError,
    file_chunks,
    guest_image,
    kill,
    progress,
    repoint,
    run_checked,
    running_cluster,
    wait_file_marker,
    wait_tashi_marker,
)

POLL_S = 0.02
log = logging.getLogger("suspend")


@dataclass
class Times:
    suspend: list[float] = field(default_factory=list)
    resume: list[float] = field(default_factory=list)
    saved_bytes: list[int] = field(default_factory=list)


async def until_state(client: TashiClient, ref: int, want: InstanceState, t0: float,
                      timeout_s: float) -> float:
    deadline = t0 + timeout_s
    while True:
        inst = await client.get_instance(ref)
        if inst.state is want:
            return time.monotonic() - t0
        if inst.last_failure or time.monotonic() > deadline:
            raise BenchError(f"instance {ref} is {inst.state}, not {want}: "
                             f"{inst.last_failure or inst.message}")
        await asyncio.sleep(POLL_S)


async def tashi_round(client: TashiClient, data_dir: Path, memory_mib: int, index: int,
                      times: Times, timeout_s: float) -> tuple[tuple[str, ...], Path]:
    """One Tashi VM through create, suspend, resume; its argv and runtime directory."""
    inst = await client.create_instance(InstanceCreate(
        name=f"bench-{memory_mib}-{index}", image=IMAGE_NAME, memory_mib=memory_mib))
    try:
        t0 = time.monotonic()
        await until_state(client, inst.id, InstanceState.RUNNING, t0, timeout_s)
        layout = RuntimeLayout.of(data_dir / "agent" / "qemu", inst.id)
        meta = read_meta(layout)
        if meta is None:
            raise BenchError(f"instance {inst.id}: no meta.json in {layout.root}")
        await asyncio.wait_for(wait_tashi_marker(client, inst.id, t0), timeout_s)
        t0 = time.monotonic()
        await client.operate_instance(inst.id, "suspend")
        times.suspend.append(await until_state(client, inst.id, InstanceState.SUSPENDED, t0,
                                               timeout_s))
        times.saved_bytes.append((data_dir / "suspend" / str(inst.id) / "memory").stat().st_size)
        t0 = time.monotonic()
        await client.operate_instance(inst.id, "resume")
        times.resume.append(await until_state(client, inst.id, InstanceState.RUNNING, t0,
                                              timeout_s))
        progress(f"tashi {memory_mib} MiB #{index}: suspend {times.suspend[-1]:.2f} s, "
                 f"resume {times.resume[-1]:.2f} s")
        return meta.argv, layout.root
    finally:
        await client.destroy_instance(inst.id)


async def wait_migrated(socket: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        info = await qmp_execute(socket, "query-migrate")
        status = info.get("status") if isinstance(info, dict) else None
        if status == "completed":
            return
        if status in ("failed", "cancelled") or time.monotonic() > deadline:
            raise BenchError(f"bare QEMU migration {status}: {info}")
        await asyncio.sleep(POLL_S)


async def wait_qmp(socket: Path, proc: asyncio.subprocess.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if await asyncio.to_thread(socket.exists):
            try:
                await query_status(socket, timeout_s=2.0)
                return
            except DriverError:
                pass
        if proc.returncode is not None or time.monotonic() > deadline:
            raise BenchError(f"bare QEMU: no QMP at {socket} (exit {proc.returncode})")
        await asyncio.sleep(POLL_S)


async def spawn(argv: list[str], log_path: Path) -> asyncio.subprocess.Process:
    with log_path.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)


async def bare_round(work: Path, argv: tuple[str, ...], tashi_root: Path, base: Path,
                     base_format: str, memory_mib: int, index: int, times: Times,
                     timeout_s: float) -> None:
    root = work / f"bare-{memory_mib}-{index}"
    root.mkdir(mode=0o700)
    layout = RuntimeLayout(root)
    state = root / "memory"
    bare = repoint(argv, tashi_root, root, f"bench-bare-{index}")
    procs: list[asyncio.subprocess.Process] = []
    try:
        await run_checked(["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format,
                           "-b", str(base), str(layout.overlay(0))])
        procs.append(await spawn(bare, layout.qemu_log))
        await asyncio.wait_for(wait_file_marker(layout.console_log, procs[0], time.monotonic()),
                               timeout_s)
        sock = layout.qmp_socket
        t0 = time.monotonic()
        await qmp_execute(sock, "stop")
        await qmp_execute(sock, "migrate-set-parameters", {"max-bandwidth": 64 * 1024**3})
        await qmp_execute(sock, "migrate", {"uri": f"exec:cat > {shlex.quote(str(state))}"})
        await wait_migrated(sock, timeout_s)
        await qmp_execute(sock, "quit")
        await procs[0].wait()
        times.suspend.append(time.monotonic() - t0)
        times.saved_bytes.append(state.stat().st_size)
        t0 = time.monotonic()
        procs.append(await spawn([*bare, "-incoming", "defer"], layout.qemu_log))
        await wait_qmp(sock, procs[1], timeout_s)
        await qmp_execute(sock, "migrate-incoming",
                          {"uri": f"exec:cat {shlex.quote(str(state))}"})
        await wait_migrated(sock, timeout_s)
        while True:  # the state saved was paused (stopped for the save): run it on
            run_state = await query_status(sock)
            if run_state == "running":
                break
            if run_state == "paused":
                await qmp_execute(sock, "cont")
            await asyncio.sleep(POLL_S)
        times.resume.append(time.monotonic() - t0)
        progress(f"bare  {memory_mib} MiB #{index}: suspend {times.suspend[-1]:.2f} s, "
                 f"resume {times.resume[-1]:.2f} s")
    finally:
        for proc in procs:
            await kill(proc)
        shutil.rmtree(root, ignore_errors=True)


async def measure(args: argparse.Namespace, work: Path) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # cleans up
    image = guest_image()
    load = os.getloadavg()
    data_dir = work / "data"
    results: dict[int, tuple[Times, Times]] = {}
    failures = 0
    async with running_cluster(data_dir, args.accel) as client:
        imported = await client.upload_image(IMAGE_NAME, file_chunks(image))
        base = data_dir / "images" / imported.name
        for memory_mib in args.memory:
            tashi, bare = results.setdefault(memory_mib, (Times(), Times()))
            for index in range(1, args.count + 1):
                try:
                    argv, root = await tashi_round(client, data_dir, memory_mib, index, tashi,
                                                   args.timeout_s)
                    await bare_round(work, argv, root, base, str(imported.format),
                                     memory_mib, index, bare, args.timeout_s)
                except (BenchError, TashiError, DriverError, TimeoutError, OSError) as exc:
                    failures += 1
                    progress(f"{memory_mib} MiB #{index}: FAILED: {exc!r}")
    report(args, image, results, load)
    if failures:
        print(f"\n{failures} round(s) FAILED", flush=True)
    return 1 if failures else 0


def report(args: argparse.Namespace, image: Path, results: dict[int, tuple[Times, Times]],
           load: tuple[float, float, float]) -> None:
    print(f"\nSuspend and resume: Tashi against the same QMP save/restore on bare QEMU; "
          f"{args.count} rounds per size, guest {image.name} (waits for {MARKER} first)")
    print(machine_line(load))
    rows = []
    for memory_mib, (tashi, bare) in results.items():
        for op in ("suspend", "resume"):
            t, b = getattr(tashi, op), getattr(bare, op)
            rows.append(row(f"{memory_mib} MiB {op}: Tashi", t))
            rows.append(row(f"{memory_mib} MiB {op}: bare QMP", b))
            if t and b:
                rows.append([f"{memory_mib} MiB {op}: Tashi/bare (P50)", "",
                             ratio(Summary.of(t).p50, Summary.of(b).p50), "", "", ""])
        saved = max(tashi.saved_bytes, default=0) / 2**20
        rows.append([f"{memory_mib} MiB saved state (MiB)", "", f"{saved:.1f}", "", "", ""])
    print_table(SUMMARY_HEADERS, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3, help="rounds per memory size")
    parser.add_argument("--memory", type=lambda s: [int(x) for x in s.split(",")],
                        default=[128, 512], help="guest memory sizes in MiB (default 128,512)")
    parser.add_argument("--accel", default="auto", choices=["auto", "kvm", "tcg"])
    parser.add_argument("--timeout-s", type=float, default=120.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tashi-bench-suspend-") as work:
        return asyncio.run(measure(args, Path(work)))


if __name__ == "__main__":
    sys.exit(main())
