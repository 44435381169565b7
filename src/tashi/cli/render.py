"""Output: aligned plain-text tables, human sizes and ages, and JSON of wire models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
from pydantic import BaseModel

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n_bytes: int) -> str:
    """``512 B``, ``1.5 KiB``, ``10 MiB``, ``2.0 GiB``: one decimal below 10 units."""
    value = float(n_bytes)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    if unit == "B":
        return f"{n_bytes} B"
    return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:.0f} {unit}"


def mib(n_mib: int) -> str:
    """A size given in MiB: ``512 MiB``, ``2.0 GiB``."""
    return f"{n_mib} MiB" if n_mib < 1024 else size(n_mib * 1024 * 1024)


def age(at: datetime | None, now: datetime | None = None) -> str:
    """How long ago: ``12s``, ``5m``, ``3h``, ``4d``; ``-`` for never."""
    if at is None:
        return "-"
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - at).total_seconds()))
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds // span}{unit}"
    return f"{seconds}s"


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned, two spaces apart; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """``key: value`` lines, values aligned."""
    width = max((len(k) for k, _ in pairs), default=0) + 1
    return "\n".join(f"{(k + ':').ljust(width)} {v}".rstrip() for k, v in pairs)


def jsonable(data: Any) -> Any:
    """Wire models (also inside dicts and lists) as plain JSON values."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, dict):
        return {str(k): jsonable(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [jsonable(item) for item in data]
    return data


def emit_json(data: Any) -> None:
    click.echo(json.dumps(jsonable(data), indent=2))
