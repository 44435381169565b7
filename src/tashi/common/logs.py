"""Logging set-up shared by every Tashi process."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT)
    _quiet_chatter()


@contextmanager
def logging_to_file(path: Path, level: str = "INFO",
                    console_level: str = "WARNING") -> Iterator[None]:
    """While the block runs: records from ``level`` up go to the file ``path``
    (appended; readable by its owner only, whatever the umask), and from
    ``console_level`` up to stderr too. Both handlers are removed after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # a file made earlier with a wider mode
    formatter = logging.Formatter(FORMAT)
    to_file = logging.StreamHandler(open(fd, "a", encoding="utf-8"))  # noqa: SIM115
    to_file.setLevel(level.upper())
    to_stderr = logging.StreamHandler()
    to_stderr.setLevel(max(logging.getLevelName(console_level.upper()),
                           logging.getLevelName(level.upper())))
    root = logging.getLogger()
    before = root.level
    for handler in (to_file, to_stderr):
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level.upper())
    _quiet_chatter()
    try:
        yield
    finally:
        for handler in (to_file, to_stderr):
            root.removeHandler(handler)
        root.setLevel(before)
        to_file.close()
        to_file.stream.close()


def _quiet_chatter() -> None:
    # uvicorn's access log names every long-poll; keep it for debugging only.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
