"""Shared by the benchmarks: percentiles, a summary row and plain-text tables."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) of ``values``, interpolating linearly between
    the closest ranks (numpy's default "linear" method). Raises ValueError on no values."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0-100, not {p}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    p50: float
    p95: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        return cls(len(values), percentile(values, 50), percentile(values, 95),
                   min(values), max(values))


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator > 0 else "n/a"


def seconds(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def summary_row(metric: str, values: Sequence[float], digits: int = 3) -> list[str]:
    """``metric, n, P50, P95, min, max`` as text; dashes when there are no values."""
    if not values:
        return [metric, "0", "-", "-", "-", "-"]
    s = Summary.of(values)
    return [metric, str(s.n), *(seconds(v, digits) for v in (s.p50, s.p95, s.min, s.max))]


SUMMARY_HEADERS = ["metric", "n", "P50", "P95", "min", "max"]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows,
                                                                         strict=False)]

    def line(cells: Sequence[str]) -> str:
        parts = [cell.ljust(w) if i == 0 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print(format_table(headers, rows), flush=True)


def first_line_of(argv: Sequence[str]) -> str:
    """The first output line of ``argv`` (e.g. a ``--version``), or why there is none."""
    try:
        out = subprocess.run(list(argv), capture_output=True, text=True, timeout=30,
                             check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    return out.splitlines()[0] if out.strip() else "unknown"


def machine_line(load_at_start: tuple[float, float, float]) -> str:
    """CPU count, CPU model and the load average at start (``os.getloadavg()``
    taken before the benchmark did anything), in one line."""
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for entry in f:
                if entry.startswith("model name"):
                    model = entry.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in load_at_start)
    return (f"CPUs: {os.cpu_count()} ({model}); {platform.system()} {platform.release()}; "
            f"load average at start: {load}")
