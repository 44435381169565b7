"""The console log stays bounded while a writer appends to it, as QEMU does with
``append=on``; readers see the rotated and the current file as one text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tashi.agent.drivers.qemu.consolelog import read_console, rotate_if_large, rotated

WRITER = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
for n in range(int(sys.argv[2])):
    os.write(fd, b"line %08d\\n" % n)
"""


def test_small_logs_are_left_alone(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    assert not rotate_if_large(log, "instance 1", max_bytes=100, keep_bytes=10)  # missing
    log.write_bytes(b"x" * 100)
    assert not rotate_if_large(log, "instance 1", max_bytes=100, keep_bytes=10)
    assert log.stat().st_size == 100
    assert not rotated(log).exists()


def test_rotation_keeps_the_tail_and_reads_as_one_text(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"".join(b"line %08d\n" % n for n in range(1000)))  # 14 bytes a line
    assert rotate_if_large(log, "instance 1", max_bytes=10_000, keep_bytes=1400)
    assert log.stat().st_size == 0
    assert rotated(log).read_bytes().splitlines()[0] == b"line 00000900"
    with log.open("ab") as f:  # the guest goes on writing
        f.write(b"line 00001000\n")
    text = read_console(log, 28).splitlines()
    assert text == [b"line 00000999", b"line 00001000"]
    assert read_console(log, 14 * 101).splitlines()[0] == b"line 00000900"


def test_an_appending_writer_stays_bounded(tmp_path: Path) -> None:
    """A real process appending (O_APPEND, like QEMU's append=on) while rotations run:
    the file never grows past the bound (no hole left at an old offset) and the last
    line read is the writer's last."""
    log = tmp_path / "console.log"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), "200000"])
    rotations = 0
    while writer.poll() is None:
        rotations += rotate_if_large(log, "instance 1", max_bytes=64_000, keep_bytes=4_000)
    assert writer.wait() == 0
    rotate_if_large(log, "instance 1", max_bytes=64_000, keep_bytes=4_000)
    assert rotations >= 5  # 2.8 MB written through a 64 kB bound
    assert log.stat().st_size <= 64_000
    current = log.read_bytes()
    assert log.stat().st_size == len(current)  # O_APPEND: no sparse hole
    assert b"\0" not in current
    # what is read is whole lines; the current file, written after its truncation, has
    # no gap; a rotation under this flood may lose the lines written between its last
    # read and its truncation, so the very last line is not asserted
    numbers = [int(line.split()[1]) for line in read_console(log, 4_000).splitlines()[1:]]
    assert numbers == sorted(numbers)
    in_current = [int(line.split()[1]) for line in current.splitlines()]
    assert in_current == list(range(in_current[0], in_current[0] + len(in_current))) \
        if in_current else current == b""  # empty if the last rotation just ran
    assert numbers[-1] > 150_000  # recent, not what was there at the start
