"""``scripts/install.sh``: a mode for the demo that leaves out what only the tests need,
progress while pip works, and Ctrl-C ending it with a message and exit 130."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install.sh"
TEST_ONLY = {"postgresql", "slapd", "ldap-utils", "prometheus"}  # prometheus: promtool


def dry_run(*args: str) -> dict[str, str]:
    done = subprocess.run([str(INSTALL), *args, "--dry-run"], capture_output=True,
                          text=True, timeout=60, check=True)
    return dict(line.split("): ", 1)[1].split(": ", 1) for line in done.stdout.splitlines())


def test_the_demo_mode_installs_only_what_the_cluster_needs() -> None:
    demo = dry_run("demo")
    assert "qemu-system-x86" in demo["apt packages"].split()
    assert TEST_ONLY.isdisjoint(demo["apt packages"].split())
    assert demo["pip"] == f"install -e '.' into {ROOT}/.venv"
    everything = dry_run()  # what scripts/test.sh runs: all of it
    assert set(everything["apt packages"].split()) >= TEST_ONLY
    assert everything["pip"] == f"install -e '.[test]' into {ROOT}/.venv"


def test_an_unknown_mode_is_one_line() -> None:
    done = subprocess.run([str(INSTALL), "everything"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert done.stderr == "install: unknown argument 'everything' (use: all, demo, --dry-run)\n"


def test_progress_while_pip_works_and_ctrl_c(tmp_path: Path) -> None:
    """A copy of the script in a repository whose venv's "pip" prints a line and works
    on (sleeps): its line is shown at once; a Ctrl-C (SIGINT to the terminal's process
    group) ends the script with a message and 130."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(INSTALL, tmp_path / "scripts" / "install.sh")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'Requirement already satisfied: click'\n"
                      "echo 'Collecting fastapi>=0.110'\nexec sleep 60\n")
    python.chmod(0o755)
    proc = subprocess.Popen([str(tmp_path / "scripts" / "install.sh"), "demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stderr is not None
        said = ""
        deadline = time.monotonic() + 30
        while "Collecting" not in said:
            assert time.monotonic() < deadline, said
            assert proc.poll() is None, said
            said += proc.stderr.readline()
        os.killpg(proc.pid, signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert "install: pip: Collecting fastapi>=0.110\n" in said
    assert "already satisfied" not in said + rest
    assert proc.returncode == 130, rest
    assert rest.splitlines()[-1] == (
        "install: interrupted; run scripts/install.sh demo again to finish")
