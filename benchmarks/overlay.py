"""Overlay creation time against the size of the base image.

    python benchmarks/overlay.py [--repeat 20] [--dir DIR]

Creates four base images in a temporary directory (under ``--dir``, default the system
temp dir): qcow2 of 1 GiB and 20 GiB, each with 128 MiB of real data (64 MiB at the
start, 64 MiB at the end, written with ``qemu-io``), and sparse raw files of 1 GiB and
20 GiB. Then times the project's own ``create_overlay`` (what the QEMU driver runs for
every non-persistent disk) over each base ``--repeat`` times, the bases interleaved,
after one untimed warm-up per base. Prints P50/P95/min/max in milliseconds and the
ratios 20 GiB / 1 GiB per format. Removes everything it created.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stats import SUMMARY_HEADERS, Summary, first_line_of, machine_line, print_table, ratio
from stats import summary_row as row
from tashi.agent.drivers.base import DiskPlan
from tashi.agent.drivers.storage.overlay import create_overlay
from tashi.common.qemu_img import QEMU_IMG, image_info
from tashi.domain.errors import TashiError
from tashi.domain.models import ImageFormat

GIB = 1 << 30
DATA_MIB = 64  # written at the start and at the end of each qcow2 base


@dataclass
class Base:
    label: str
    format: ImageFormat
    size_gib: int
    path: Path
    times_s: list[float] = field(default_factory=list)


def run(argv: Sequence[str]) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, timeout=300)


def make_bases(root: Path) -> list[Base]:
    bases = []
    for size in (1, 20):
        path = root / f"base-{size}g.qcow2"
        run([QEMU_IMG, "create", "-q", "-f", "qcow2", str(path), f"{size}G"])
        end = size * GIB - DATA_MIB * (1 << 20)
        run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0xab 0 {DATA_MIB}M",
             "-c", f"write -P 0xcd {end} {DATA_MIB}M", str(path)])
        bases.append(Base(f"qcow2 {size} GiB, {2 * DATA_MIB} MiB data", ImageFormat.QCOW2,
                          size, path))
    for size in (1, 20):
        path = root / f"base-{size}g.raw"
        with path.open("wb") as f:
            f.truncate(size * GIB)
        bases.append(Base(f"raw {size} GiB, sparse", ImageFormat.RAW, size, path))
    return bases


async def time_overlay(base: Base, overlay: Path) -> float:
    disk = DiskPlan(image_path=base.path, format=base.format, persistent=False)
    t0 = time.perf_counter()
    await create_overlay(disk, overlay)
    elapsed = time.perf_counter() - t0
    await asyncio.to_thread(overlay.unlink)
    return elapsed


async def check_overlay(base: Base, overlay: Path) -> None:
    """One overlay over ``base``, checked to be a qcow2 backed by it (untimed)."""
    await create_overlay(DiskPlan(base.path, base.format, False), overlay)
    info = await image_info(overlay)
    await asyncio.to_thread(overlay.unlink)
    if info.format != "qcow2" or info.backing_file != str(base.path.absolute()) \
            or info.virtual_size_bytes != base.size_gib * GIB:
        raise SystemExit(f"overlay over {base.path} is wrong: {info}")


async def measure(root: Path, repeat: int) -> list[Base]:
    bases = make_bases(root)
    overlay = root / "overlay.qcow2"
    for base in bases:  # warm-up, untimed: page cache, qemu-img binary
        await check_overlay(base, overlay)
    for _ in range(repeat):
        for base in bases:
            base.times_s.append(await time_overlay(base, overlay))
    return bases


def report(bases: list[Base], repeat: int, root: Path,
           load: tuple[float, float, float]) -> None:
    fs = first_line_of(["stat", "-f", "-c", "%T", str(root)])
    print(f"\nOverlay creation (tashi.agent.drivers.storage.overlay.create_overlay), "
          f"{repeat} runs per base, times in milliseconds")
    print(first_line_of([QEMU_IMG, "--version"]) + f"; filesystem of {root.parent}: {fs}")
    print(machine_line(load) + "\n")
    print_table(["base", *SUMMARY_HEADERS[1:]],
                [row(b.label, [t * 1000 for t in b.times_s], digits=1) for b in bases])
    print()
    for fmt in ImageFormat:
        small = next(b for b in bases if b.format is fmt and b.size_gib == 1)
        large = next(b for b in bases if b.format is fmt and b.size_gib == 20)
        s, lg = Summary.of(small.times_s), Summary.of(large.times_s)
        print(f"{fmt} 20 GiB / 1 GiB: P50 {ratio(lg.p50, s.p50)}, "
              f"P95 {ratio(lg.p95, s.p95)}, max {ratio(lg.max, s.max)}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description="Overlay creation time against base size.")
    parser.add_argument("--repeat", type=int, default=20, help="runs per base (default 20)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to put the temporary directory (default: system temp)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    load = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="tashi-bench-overlay-", dir=args.dir))
    try:
        bases = asyncio.run(measure(root, args.repeat))
        report(bases, args.repeat, root, load)
    except subprocess.CalledProcessError as exc:
        print(f"overlay: {exc}: {exc.stderr.decode(errors='replace')}", file=sys.stderr)
        return 1
    except TashiError as exc:
        print(f"overlay: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("overlay: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
