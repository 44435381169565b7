"""What this host's QEMU is and runs, measured once when the driver is first asked:
its version (``qemu-system-x86_64 --version``), the CPU guests see and the host's own
CPU model (``/proc/cpuinfo``), the machine type, NIC models and the network and disk
kinds of the host's composition. A fact that cannot be measured is left empty, with
a warning: the host still reports the rest."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from tashi.agent.drivers.composition import Composition
from tashi.agent.drivers.qemu.accel import CPUINFO, Accelerator
from tashi.agent.drivers.qemu.argv import MACHINE_TYPE, NIC_DEVICES, cpu_model
from tashi.common.subprocesses import communicate
from tashi.domain.capabilities import HypervisorFacts
from tashi.domain.models import ImageFormat

log = logging.getLogger(__name__)

VERSION_TIMEOUT_S = 10.0
_VERSION = re.compile(r"version\s+(\d+(?:\.\d+)+)")


def parse_version(output: str) -> str:
    """``8.2.2`` from ``QEMU emulator version 8.2.2 (Debian ...)``; '' if none."""
    found = _VERSION.search(output)
    return found.group(1) if found else ""


def host_cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` ('' when it names none)."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "model name":
            return " ".join(value.split())
    return ""


async def qemu_version(binary: str) -> str:
    """The version ``binary --version`` prints; '' (logged) when it cannot be run."""
    try:
        proc = await asyncio.create_subprocess_exec(
            binary, "--version", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        log.warning("qemu binary %s: cannot run it for its version: %s", binary, exc)
        return ""
    try:
        out, _ = await communicate(proc, VERSION_TIMEOUT_S)
    except TimeoutError:
        log.warning("qemu binary %s: --version took over %s s", binary, VERSION_TIMEOUT_S)
        return ""
    text = out.decode("utf-8", errors="replace")
    version = parse_version(text)
    if proc.returncode != 0 or not version:
        log.warning("qemu binary %s: no version in its --version (exit %s): %.200s",
                    binary, proc.returncode, text.strip())
    return version


def read_cpuinfo(path: Path = CPUINFO) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.warning("cannot read %s for the host CPU model: %s", path, exc)
        return ""


async def measure_facts(binary: str, accel: Accelerator,
                        composition: Composition) -> HypervisorFacts:
    """This host's QEMU facts (runs ``binary --version``; reads ``/proc/cpuinfo``)."""
    version = await qemu_version(binary)
    host_cpu = host_cpu_model(await asyncio.to_thread(read_cpuinfo))
    facts = HypervisorFacts(
        hypervisor="qemu", version=version, accelerator=str(accel),
        cpu_model=cpu_model(accel), host_cpu=host_cpu,
        machine_types=frozenset({MACHINE_TYPE}), nic_models=frozenset(map(str, NIC_DEVICES)),
        network_kinds=composition.network_kinds, disk_kinds=composition.disk_kinds,
        disk_formats=frozenset(f.value for f in ImageFormat))
    log.info("qemu %s (%s): guests see CPU %s, host CPU %r, machine %s",
             version or "of unknown version", accel, facts.cpu_model, host_cpu, MACHINE_TYPE)
    return facts
