"""The fake hypervisor driver: a real in-memory implementation, for scale tests,
simulations and demos. It runs nothing. Everything it shows says "simulation".

Its capacity, its delays, its failures and the NIC models it offers are configurable;
it keeps its VMs across agent restarts only as long as the same driver object lives
(as a hypervisor would keep them across an agent restart). Of the optional protocols
it implements ``Console``, ``Pausable``, ``Rebootable``, ``Suspendable`` (a small file
in the suspend directory) and ``Metered`` (figures that grow with the time since the VM
started: :func:`simulated_usage`); its facts say
"simulation" (hypervisor "fake"). It implements ``Vnc`` too: its VNC servers listen
nowhere (the endpoint is made up, the password kept for tests to read), its
screenshots are a small picture of one colour.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tashi.agent.drivers.base import HostInfo, VmRequest, VmStatus, VncEndpoint
from tashi.domain.capabilities import HypervisorFacts
from tashi.domain.derive import Observed
from tashi.domain.displays import rgb_png
from tashi.domain.errors import DriverError
from tashi.domain.needs import BUILTIN
from tashi.domain.usage import VmUsage

MARKER = "TASHI-GUEST-READY"
SCREEN = (80, 60)  # the pixels of its screenshots
_SAVED = "fake-vm.json"  # a suspended fake VM, in its saved-state directory


@dataclass
class _FakeVm:
    request: VmRequest
    observed: Observed
    console: str
    reboots: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_s: float = 0.0  # on the driver's clock


class FakeDriver:
    def __init__(self, *, cores: int = 64, memory_mib: int = 256 * 1024,
                 disk_gib: int = 16 * 1024,
                 start_delay_s: float = 0.0, stop_delay_s: float = 0.0,
                 fail_start: Callable[[VmRequest], str | None] | None = None,
                 nic_models: Iterable[str] = BUILTIN.nic_models,
                 clock: Callable[[], float] = time.monotonic,
                 vnc_host: str = "127.0.0.1") -> None:
        """``nic_models``: those it offers (default: every one Tashi knows); it refuses
        to start a VM with another, as a real driver would. ``clock`` (seconds) is
        what the usage figures grow with."""
        self._facts = HypervisorFacts(
            hypervisor="fake", version="simulation", cpu_model="simulated",
            host_cpu="simulated", machine_types=frozenset({"simulated"}),
            nic_models=frozenset(nic_models), network_kinds=BUILTIN.network_kinds,
            disk_kinds=BUILTIN.disk_kinds, disk_formats=BUILTIN.disk_formats)
        self._cores = cores
        self._memory_mib = memory_mib
        self._disk_gib = disk_gib
        self._start_delay_s = start_delay_s
        self._stop_delay_s = stop_delay_s
        self._fail_start = fail_start
        self._vms: dict[int, _FakeVm] = {}
        self._clock = clock
        self.starts = 0  # how many VMs were really started: tests count duplicates
        self.vnc_host = vnc_host
        self.vnc: dict[int, tuple[VncEndpoint, str]] = {}  # open VNC servers, and passwords

    @property
    def name(self) -> str:
        return "fake"

    async def facts(self) -> HypervisorFacts:
        return self._facts

    async def host_info(self) -> HostInfo:
        return HostInfo(cores=self._cores, memory_mib=self._memory_mib,
                        hypervisor="fake (simulation)", disk_gib=self._disk_gib)

    async def list_instances(self) -> list[VmStatus]:
        return [VmStatus(i, vm.observed, "simulated", vm.reboots)
                for i, vm in sorted(self._vms.items())]

    async def start(self, request: VmRequest) -> None:
        vm = self._vms.get(request.instance_id)
        if vm is not None and vm.observed is Observed.RUNNING:
            return
        await asyncio.sleep(self._start_delay_s)
        reason = (self._fail_start(request) if self._fail_start else None) or self._refusal(request)
        if reason:
            raise DriverError(f"instance {request.instance_id} ({request.name}): {reason}")
        self.starts += 1
        self._vms[request.instance_id] = _FakeVm(
            request, Observed.RUNNING, f"simulated VM {request.name}\n{MARKER}\n",
            request.reboots, started_s=self._clock())

    async def stop(self, instance_id: int, timeout_s: float) -> None:
        vm = self._vms.get(instance_id)
        if vm is None or vm.observed is Observed.STOPPED:
            return
        await asyncio.sleep(min(self._stop_delay_s, timeout_s))
        vm.observed = Observed.STOPPED
        vm.console += "simulated power-off\n"

    async def destroy(self, instance_id: int) -> None:
        self._vms.pop(instance_id, None)

    async def pause(self, instance_id: int) -> None:
        self._live(instance_id, "pause").observed = Observed.PAUSED

    async def unpause(self, instance_id: int) -> None:
        self._live(instance_id, "unpause").observed = Observed.RUNNING

    async def reboot(self, instance_id: int, number: int, hard: bool, timeout_s: float) -> None:
        vm = self._live(instance_id, "reboot")
        vm.reboots = number
        vm.console += f"simulated {'reset' if hard else 'reboot'}\n{MARKER}\n"

    async def open_vnc(self, instance_id: int, password: str) -> VncEndpoint:
        self._live(instance_id, "open VNC")
        endpoint = VncEndpoint(self.vnc_host, 5900 + instance_id % 60000)
        self.vnc[instance_id] = (endpoint, password)
        return endpoint

    async def close_vnc(self, instance_id: int) -> None:
        self._live(instance_id, "close VNC")
        self.vnc.pop(instance_id, None)

    async def screenshot(self, instance_id: int) -> bytes:
        self._live(instance_id, "take a screenshot")
        return rgb_png(SCREEN[0], SCREEN[1], bytes([instance_id % 256, 128, 64])
                       * (SCREEN[0] * SCREEN[1]))

    async def suspend(self, instance_id: int, path: Path) -> None:
        """Saves the VM's console and reboots as a file in ``path`` (a real file: a
        suspend directory that cannot be written fails the save as it would)."""
        vm = self._vms.get(instance_id)
        if vm is None:
            if self.saved(path):
                return
            raise DriverError(f"instance {instance_id}: cannot suspend: not running here")
        try:
            await asyncio.to_thread(_save, path, {"console": vm.console, "reboots": vm.reboots})
        except OSError as exc:
            raise DriverError(f"cannot write to the suspend directory {path}: "
                              f"{exc.strerror}") from exc
        del self._vms[instance_id]

    async def resume(self, request: VmRequest, path: Path) -> None:
        if request.instance_id in self._vms:
            return
        try:
            saved = json.loads(await asyncio.to_thread((path / _SAVED).read_text))
        except (OSError, ValueError) as exc:
            raise DriverError(f"instance {request.instance_id} ({request.name}): no saved "
                              f"state in {path}") from exc
        await self.start(request)
        vm = self._vms[request.instance_id]
        vm.console, vm.reboots = saved["console"] + "simulated resume\n", saved["reboots"]
        await asyncio.to_thread(shutil.rmtree, path, True)

    def saved(self, path: Path) -> bool:
        return (path / _SAVED).exists()

    def progress(self, instance_id: int) -> int | None:
        return None

    async def usage(self, instance_id: int) -> VmUsage | None:
        vm = self._vms.get(instance_id)
        if vm is None or vm.observed is Observed.STOPPED:
            return None
        return simulated_usage(vm.request, vm.started_at, self._clock() - vm.started_s)

    def _live(self, instance_id: int, what: str) -> _FakeVm:
        vm = self._vms.get(instance_id)
        if vm is None or vm.observed is Observed.STOPPED:
            raise DriverError(f"instance {instance_id}: cannot {what}: not running here")
        return vm

    async def console(self, instance_id: int, max_bytes: int) -> str:
        vm = self._vms.get(instance_id)
        return vm.console[-max_bytes:] if vm else ""

    def _refusal(self, request: VmRequest) -> str | None:
        """Why this simulated host cannot run ``request`` (None: it can)."""
        models = {n.model for n in request.nics} - self._facts.nic_models
        return f"NIC model {', '.join(sorted(models))} is not offered here" if models else None

    def write_console(self, instance_id: int, text: str) -> None:
        """Simulate the guest writing ``text`` to its console."""
        self._vms[instance_id].console += text

    def crash(self, instance_id: int) -> None:
        """Simulate a VM whose process died on its own."""
        self._vms[instance_id].observed = Observed.STOPPED


def _save(path: Path, state: dict[str, object]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / _SAVED).write_text(json.dumps(state))


def simulated_usage(request: VmRequest, started_at: datetime, elapsed_s: float) -> VmUsage:
    """The fake's figures ``elapsed_s`` after the VM started: half of each core busy,
    half its memory resident, 1 MiB/s read, 256 KiB/s written, 64 KiB/s each way on the
    network (per NIC)."""
    seconds = max(0.0, elapsed_s)
    nics = len(request.nics)
    return VmUsage(started_at=started_at, cpu_seconds=0.5 * request.cores * seconds,
                   memory_rss_bytes=request.memory_mib * 1024 * 1024 // 2,
                   disk_read_bytes=int(seconds * 1024 * 1024),
                   disk_written_bytes=int(seconds * 256 * 1024),
                   net_rx_bytes=int(seconds * 64 * 1024) * nics,
                   net_tx_bytes=int(seconds * 64 * 1024) * nics)
