"""The upload progress line: on a terminal only, with bytes, percent and rate."""

from __future__ import annotations

import io

from tashi.cli.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_bytes_percent_and_rate_on_a_terminal() -> None:
    out = Terminal()
    shown = Progress("uploading guest", 4 * 1024 * 1024, out)
    shown.add(1024 * 1024)
    shown.add(3 * 1024 * 1024)  # the last chunk is always shown
    shown.end()
    lines = out.getvalue().split("\r\x1b[K")
    assert lines[1].startswith("uploading guest: 1.0 MiB of 4.0 MiB (25%), ")
    assert lines[-1].startswith("uploading guest: 4.0 MiB of 4.0 MiB (100%), ")
    assert lines[-1].endswith("/s\n")


def test_no_progress_off_a_terminal() -> None:
    out = io.StringIO()
    shown = Progress("uploading guest", 10, out)
    shown.add(10)
    shown.end()
    assert out.getvalue() == ""
