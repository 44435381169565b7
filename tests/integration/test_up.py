"""``tashi up`` as a newcomer runs it: settings from the environment like every other
process (and named in ``--help``), its log in a file of the data directory that it names."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tashi.cmd.cli import main

TASHI = Path(sys.executable).parent / "tashi"


def env_of(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment without the caller's TASHI_*, its config and data in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "share"), **settings}


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_names_the_environment_variables() -> None:
    out = CliRunner().invoke(main, ["up", "--help"]).stdout
    flat = " ".join(out.split())
    for var in ("TASHI_DATA_DIR", "TASHI_PORT", "TASHI_LISTEN", "TASHI_AGENT_DRIVER",
                "TASHI_LOG_LEVEL", "TASHI_HEARTBEAT_TIMEOUT_S"):
        assert var in flat, var
    assert "tashi-up.log" in flat


def test_port_and_data_dir_come_from_the_environment(tmp_path: Path,
                                                     listening: socket.socket) -> None:
    port = listening.getsockname()[1]
    data = tmp_path / "from-env"
    proc = subprocess.run([str(TASHI), "up"], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, env=env_of(
                              tmp_path, TASHI_PORT=str(port), TASHI_DATA_DIR=str(data),
                              TASHI_AGENT_DRIVER="fake"))
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        f"tashi: cannot listen on 127.0.0.1:{port}: address already in use")
    assert data.is_dir()  # the data directory it was given, not the default one
    assert not (tmp_path / "share" / "tashi").exists()
    bad = subprocess.run([str(TASHI), "up"], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL, env=env_of(tmp_path, TASHI_PORT="http"))
    assert bad.returncode == 2
    assert "TASHI_PORT" in bad.stderr


def test_up_logs_to_a_file_it_names(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    proc = subprocess.Popen([str(TASHI), "up"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            env=env_of(tmp_path, TASHI_PORT=str(port),
                                       TASHI_DATA_DIR=str(data), TASHI_AGENT_DRIVER="fake"))
    log = data / "tashi-up.log"
    try:
        assert proc.stderr is not None
        said = ""
        deadline = time.monotonic() + 60
        while "Tashi is up" not in said:
            assert time.monotonic() < deadline, said
            assert proc.poll() is None, said
            said += proc.stderr.readline()
        said += proc.stderr.readline()
        assert f"Tashi is up on http://127.0.0.1:{port} (data in {data}; log: {log})" in said
        text = log.read_text()
        assert f"cluster on http://127.0.0.1:{port}: manager, agent of host" in text
        assert "INFO" in text
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "INFO" not in err  # stderr: warnings and errors only; the rest is in the file
    assert "stopped; VMs keep running" in log.read_text()
