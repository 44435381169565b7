"""How long a ``tashi`` call takes, start to exit, and how much of it is imports.

    python benchmarks/cli_start.py [--runs 20] [--src DIR ...]

Starts ``tashi-manager`` (sqlite, a temporary directory, a free port, five instances in
its store) and times, as a person types them, ``tashi --version`` and ``tashi vm list``
(against that manager): ``--runs`` runs of each, interleaved, each a new process of the
venv's ``tashi`` script. ``--src DIR`` (repeatable) also times the ``tashi`` of another
checkout's ``src`` (e.g. one made with ``git archive HEAD src | tar -x -C /tmp/head``),
put first on ``PYTHONPATH``, against a manager of that ``src`` (the wire may differ);
its runs interleave with this checkout's, so a change of the machine's load favours
neither. One more run of each with ``python -X importtime``
gives the imports' total and the five heaviest top-level imports. Prints P50, P95, min
and max in seconds. Removes everything it made, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stats import SUMMARY_HEADERS, machine_line, print_table
from stats import summary_row as row

TASHI = Path(sys.executable).parent / "tashi"
COMMANDS = (("--version",), ("vm", "list"))
TOP_IMPORTS = 5


@dataclass
class Variant:
    label: str
    src: Path | None  # None: this checkout's (the installed one)
    times_s: dict[tuple[str, ...], list[float]] = field(default_factory=dict)
    client_env: dict[str, str] = field(default_factory=dict)  # TASHI_URL, TASHI_TOKEN...

    def env(self, base: dict[str, str]) -> dict[str, str]:
        if self.src is None:
            return base
        return {**base, "PYTHONPATH": os.pathsep.join([str(self.src), *_pythonpath()])}


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_manager(root: Path, base: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str]:
    """``tashi-manager`` on a fresh store in ``root``; the process, its URL and the
    admin's token."""
    root.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**base, "TASHI_DB_URL": f"sqlite:///{root / 'tashi.db'}",
           "TASHI_PORT": str(port), "TASHI_LISTEN": "127.0.0.1",
           "TASHI_IMAGE_DIR": str(root / "images"), "TASHI_LOG_LEVEL": "WARNING"}
    log = root / "manager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(TASHI.parent / "tashi-manager")], stdout=out,
                                stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        text = log.read_text(errors="replace")
        if "Its token (shown once): " in text:
            token = text.split("Its token (shown once): ", 1)[1].split()[0]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return proc, url, token
            except OSError:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the manager did not start:\n{text[-2000:]}")
        time.sleep(0.1)


def fill(env: dict[str, str]) -> None:
    """Five instances to list (Pending: no host), on a tiny raw image."""
    with tempfile.NamedTemporaryFile(suffix=".raw") as image:
        image.write(b"\0" * 1024 * 1024)
        image.flush()
        subprocess.run([str(TASHI), "image", "import", "bench", image.name], env=env,
                       check=True, capture_output=True)
    subprocess.run([str(TASHI), "vm", "create", "bench", "--image", "bench", "--count", "5"],
                   env=env, check=True, capture_output=True)


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(list(argv), env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return took


def import_profile(command: Sequence[str], env: dict[str, str]) -> str:
    """``-X importtime`` of one run: the total and the heaviest top-level imports."""
    done = subprocess.run([sys.executable, "-X", "importtime", str(TASHI), *command],
                          env=env, capture_output=True, text=True, check=True)
    top: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit() or name.startswith("  "):
            continue  # the header, or an import made by another import
        top.append((int(cumulative), name.strip()))
    total_ms = sum(us for us, _ in top) / 1000
    heaviest = ", ".join(f"{name} {us / 1000:.0f}" for us, name in sorted(top)[::-1][:TOP_IMPORTS])
    return f"imports {total_ms:.0f} ms (heaviest, ms: {heaviest})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--src", type=Path, action="append", default=[],
                        help="another checkout's src directory to time too")
    args = parser.parse_args()
    load = os.getloadavg()
    variants = [Variant("this checkout", None),
                *(Variant(f"src {p}", p.absolute()) for p in args.src)]
    root = Path(tempfile.mkdtemp(prefix="tashi-bench-cli-"))
    procs: list[subprocess.Popen[bytes]] = []
    base = {**{k: v for k, v in os.environ.items() if not k.startswith("TASHI_")},
            "XDG_CONFIG_HOME": str(root / "config")}
    try:
        for i, variant in enumerate(variants):
            proc, url, token = start_manager(root / f"manager-{i}", variant.env(base))
            procs.append(proc)
            variant.client_env = {**variant.env(base), "TASHI_URL": url, "TASHI_TOKEN": token}
            fill(variant.client_env)
        for _ in range(args.runs):
            for variant in variants:
                for command in COMMANDS:
                    seconds = timed([str(TASHI), *command], variant.client_env)
                    variant.times_s.setdefault(command, []).append(seconds)
        print(f"tashi start to exit, {args.runs} runs each, interleaved; times in seconds")
        print(machine_line(load))
        print(f"Python {sys.version.split()[0]}; each against a tashi-manager of its own "
              "source (sqlite, 5 instances in its store)\n")
        rows = [row(f"{v.label}: tashi {' '.join(c)}", v.times_s[c])
                for v in variants for c in COMMANDS]
        print_table(SUMMARY_HEADERS, rows)
        print()
        for variant in variants:
            for command in COMMANDS:
                print(f"{variant.label}: tashi {' '.join(command)}: "
                      f"{import_profile(command, variant.client_env)}")
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
