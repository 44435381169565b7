"""The fake hypervisor driver: a real in-memory implementation, for scale tests,
simulations and demos. It runs nothing. Everything it shows says "simulation".

Its capacity, its delays, its failures and the NIC models it offers are configurable;
it keeps its VMs across agent restarts only as long as the same driver object lives
(as a hypervisor would keep them across an agent restart). Of the optional protocols
it implements ``Console``, ``Pausable`` and ``Rebootable``; its facts say "simulation"
(hypervisor "fake").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tashi.agent.drivers.base import HostInfo, VmRequest, VmStatus
from tashi.domain.capabilities import HypervisorFacts
from tashi.domain.derive import Observed
from tashi.domain.errors import DriverError
from tashi.domain.needs import BUILTIN

MARKER = "TASHI-GUEST-READY"


@dataclass
class _FakeVm:
    request: VmRequest
    observed: Observed
    console: str
    reboots: int = 0


class FakeDriver:
    def __init__(self, *, cores: int = 64, memory_mib: int = 256 * 1024,
                 disk_gib: int = 16 * 1024,
                 start_delay_s: float = 0.0, stop_delay_s: float = 0.0,
                 fail_start: Callable[[VmRequest], str | None] | None = None,
                 nic_models: Iterable[str] = BUILTIN.nic_models) -> None:
        """``nic_models``: those it offers (default: every one Tashi knows); it refuses
        to start a VM with another, as a real driver would."""
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
        self.starts = 0  # how many VMs were really started: tests count duplicates

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
            request.reboots)

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
