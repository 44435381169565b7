"""A one-line progress display on stderr, for a terminal only (never in pipes or logs):
``uploading tashi-guest: 412 MiB of 1.0 GiB (40%), 95 MiB/s``."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from typing import TextIO

from tashi.cli.render import size

EVERY_S = 0.2  # at most this often


class Progress:
    def __init__(self, what: str, total: int, out: TextIO | None = None) -> None:
        self._what = what
        self._total = total
        self._out = out or sys.stderr
        self._done = 0
        self._started = time.monotonic()
        self._shown = 0.0

    @property
    def on(self) -> bool:
        return self._out.isatty()

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        pct = f" ({100 * self._done // self._total}%)" if self._total else ""
        return (f"{self._what}: {size(self._done)} of {size(self._total)}{pct}, "
                f"{size(int(self._done / elapsed))}/s")

    def add(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if self.on and (now - self._shown >= EVERY_S or self._done >= self._total):
            self._shown = now
            self._out.write("\r\x1b[K" + self.line(now))
            self._out.flush()

    def end(self) -> None:
        if self.on:
            self._out.write("\n")
            self._out.flush()


async def counted(chunks: AsyncIterator[bytes], progress: Progress) -> AsyncIterator[bytes]:
    """``chunks``, each counted in ``progress`` as it goes."""
    try:
        async for chunk in chunks:
            progress.add(len(chunk))
            yield chunk
    finally:
        progress.end()


class StatusLine:
    """One line rewritten in place on a terminal's stderr (nothing elsewhere): what an
    operation under way says, e.g. ``web: Suspending, 45%``."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stderr
        self._last = ""

    def show(self, text: str) -> None:
        if self._out.isatty() and text != self._last:
            self._last = text
            self._out.write("\r\x1b[K" + text)
            self._out.flush()

    def end(self) -> None:
        if self._out.isatty() and self._last:
            self._out.write("\n")
            self._out.flush()
