"""Scratch disk creation through Tashi's provider against the bare operation.

    python benchmarks/scratch.py [--repeat 1000] [--dir DIR] [--seed 1]

Creates ``scratch=`` disks of 1 GiB and 100 GiB in a temporary directory (under
``--dir``, default the system temp dir) with the project's own
``tashi.agent.drivers.storage.empty.ScratchDisk.provide`` (what the QEMU driver runs for
every scratch disk), and the same files with the bare operation (``os.open`` with
``O_CREAT | O_EXCL``, ``os.ftruncate``, ``os.close``, called directly in the same event
loop), and, for reference, with ``truncate -s`` (a process). Each kind and size
``--repeat`` times, interleaved (one of each per round, each round in an order shuffled
with ``--seed``, so that each kind follows each other one about equally often), after one
untimed warm-up of each that also checks the file (its size, no block allocated). Each
file is removed, untimed, before the next. Prints n, P50, P95, min, max in microseconds
and the Tashi/bare ratios of P50 (target: at most 1.05x).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from stats import SUMMARY_HEADERS, Summary, first_line_of, machine_line, print_table, ratio
from stats import summary_row as row
from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage.base import DiskTarget
from tashi.agent.drivers.storage.empty import ScratchDisk
from tashi.domain.errors import TashiError
from tashi.domain.models import ImageFormat

GIB = 1 << 30
SIZES_GIB = (1, 100)
TARGET = 1.05


@dataclass
class Kind:
    label: str
    size_gib: int
    create: Callable[[], Awaitable[None]]  # makes the file at the run's path
    of_tashi: bool = False
    bare: bool = False
    times_s: list[float] = field(default_factory=list)


def tashi(path: Path, size_gib: int) -> Callable[[], Awaitable[None]]:
    """The provider's call as the QEMU driver makes it: its plan and target exist
    already (built by the composition before the disks are provided)."""
    provider = ScratchDisk()
    disk = DiskPlan(image_path=None, format=ImageFormat.RAW, persistent=False,
                    size_gib=size_gib, scratch=True)
    target = DiskTarget(path, ImageFormat.RAW)
    return lambda: provider.provide(disk, target)


def bare(path: Path, size_gib: int) -> Callable[[], Awaitable[None]]:
    size = size_gib * GIB

    async def create() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    return create


def truncate_process(path: Path, size_gib: int) -> Callable[[], Awaitable[None]]:
    argv = ("truncate", "-s", f"{size_gib}G", str(path))

    async def create() -> None:
        proc = await asyncio.create_subprocess_exec(*argv)
        if await proc.wait() != 0:
            raise SystemExit(f"{' '.join(argv)} failed")

    return create


def kinds(path: Path) -> list[Kind]:
    made = []
    for size in SIZES_GIB:
        made += [Kind(f"Tashi ScratchDisk.provide {size} GiB", size, tashi(path, size),
                      of_tashi=True),
                 Kind(f"bare os.ftruncate {size} GiB", size, bare(path, size), bare=True),
                 Kind(f"truncate -s {size}G (a process, reference)", size,
                      truncate_process(path, size))]
    return made


async def checked(kind: Kind, path: Path) -> None:
    """One untimed creation, checked: the right size, sparse."""
    await kind.create()
    st = os.stat(path)
    os.unlink(path)
    if st.st_size != kind.size_gib * GIB or st.st_blocks != 0:
        raise SystemExit(f"{kind.label}: {path} is {st.st_size} bytes with {st.st_blocks} "
                         f"blocks, not {kind.size_gib * GIB} bytes with none")


async def timed(kind: Kind, path: Path) -> float:
    t0 = time.perf_counter()
    await kind.create()
    elapsed = time.perf_counter() - t0
    os.unlink(path)
    return elapsed


async def measure(root: Path, repeat: int, seed: int) -> list[Kind]:
    path = root / "disk0.raw"
    all_kinds = kinds(path)
    for kind in all_kinds:  # warm-up: the directory's inode, the binary
        await checked(kind, path)
    order = random.Random(seed)
    for _ in range(repeat):  # shuffled rounds: each kind follows each other one (and a
        round_ = list(all_kinds)  # process's aftermath) about equally often
        order.shuffle(round_)
        for kind in round_:
            kind.times_s.append(await timed(kind, path))
    return all_kinds


def report(measured: list[Kind], repeat: int, root: Path,
           load: tuple[float, float, float]) -> None:
    fs = first_line_of(["stat", "-f", "-c", "%T", str(root)])
    print(f"\nScratch disk creation, {repeat} runs of each, interleaved; times in "
          f"microseconds\nfilesystem of {root.parent}: {fs}; Python {sys.version.split()[0]}")
    print(machine_line(load) + "\n")
    print_table(["kind", *SUMMARY_HEADERS[1:]],
                [row(k.label, [t * 1e6 for t in k.times_s], digits=1) for k in measured])
    print()
    for size in SIZES_GIB:
        ours = next(k for k in measured if k.size_gib == size and k.of_tashi)
        base = next(k for k in measured if k.size_gib == size and k.bare)
        s, b = Summary.of(ours.times_s), Summary.of(base.times_s)
        verdict = "meets" if s.p50 <= TARGET * b.p50 else "misses"
        print(f"{size} GiB: Tashi/bare P50 {ratio(s.p50, b.p50)} "
              f"(+{(s.p50 - b.p50) * 1e6:.1f} us), P95 {ratio(s.p95, b.p95)}; "
              f"{verdict} the target of {TARGET:.2f}x")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description="Scratch disk creation: Tashi against "
                                     "the bare ftruncate.")
    parser.add_argument("--repeat", type=int, default=1000, help="runs of each (default 1000)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to put the temporary directory (default: system temp)")
    parser.add_argument("--seed", type=int, default=1, help="of the rounds' order (default 1)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="tashi-bench-scratch-", dir=args.dir))
    try:
        measured = asyncio.run(measure(root, args.repeat, args.seed))
        report(measured, args.repeat, root, load)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"scratch: {exc}", file=sys.stderr)
        return 1
    except TashiError as exc:
        print(f"scratch: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scratch: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
