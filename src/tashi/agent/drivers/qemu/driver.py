"""The QEMU hypervisor driver (KVM or TCG).

Each instance lives in a runtime directory (see :mod:`.runtime`) holding its
record, sockets, logs and disk overlays, so a restarted agent re-adopts the VMs
a previous agent started: it reads the directories, never starts anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import time
from asyncio.subprocess import Process
from collections.abc import Callable
from pathlib import Path

from tashi.agent.drivers.base import HostInfo, VmRequest, VmStatus, VncEndpoint
from tashi.agent.drivers.composition import Composition, compose
from tashi.agent.drivers.hostinfo import disk_gib_of, host_resources
from tashi.agent.drivers.qemu import display, migration, process, savedstate
from tashi.agent.drivers.qemu.accel import Accelerator
from tashi.agent.drivers.qemu.argv import QEMU_BINARY, build_argv
from tashi.agent.drivers.qemu.consolelog import APPEND_OPTION, read_console, rotate_if_large
from tashi.agent.drivers.qemu.ending import How, describe, read_ending, record_ending
from tashi.agent.drivers.qemu.facts import measure_facts
from tashi.agent.drivers.qemu.qmp import qmp_execute, qmp_session, query_status
from tashi.agent.drivers.qemu.reboot import read_reboots, reboot_vm, write_reboots
from tashi.agent.drivers.qemu.runtime import (
    UNIX_PATH_MAX,
    RuntimeLayout,
    clear_unstarted,
    create_runtime_dir,
    list_instance_ids,
    live_pid,
    new_meta,
    process_matches,
    read_meta,
    read_tail,
    remove_runtime_dir,
    vm_name,
)
from tashi.agent.drivers.qemu.savedstate import SavedState
from tashi.agent.drivers.qemu.usage import measure
from tashi.common.qemu_img import QEMU_IMG
from tashi.domain.capabilities import HypervisorFacts
from tashi.domain.derive import Observed
from tashi.domain.errors import DriverError
from tashi.domain.migration import IncomingEndpoint, MigrationProgress, MigrationTunables, Sent
from tashi.domain.usage import VmUsage

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
SAVE_TIMEOUT_S = 600.0  # a suspend's save, a resume's restore
LIST_QMP_TIMEOUT_S = 1.0
QUIT_TIMEOUT_S = 2.0
POWERDOWN_QMP_TIMEOUT_S = 5.0
LOG_TAIL_BYTES = 2000
#: QEMU run states in which the guest does not run: paused, waiting for or done with a
#: migration (the target's guest runs only once the whole state came).
STOPPED_STATES = frozenset({"paused", "inmigrate", "postmigrate", "finish-migrate",
                            "prelaunch"})


class QemuDriver:
    """Runs VMs as QEMU processes on this host. See ``HypervisorDriver`` for the contract;
    of the optional protocols it implements ``Console``, ``Pausable``, ``Rebootable``,
    ``Suspendable`` (see :mod:`.savedstate`), ``Metered`` and ``Vnc`` (see :mod:`.display`).
    Its disks and NICs are made by the host's ``composition`` (default:
    :func:`~tashi.agent.drivers.composition.compose`)."""

    def __init__(
        self,
        state_dir: Path,
        accel: Accelerator,
        qemu_binary: str = QEMU_BINARY,
        *,
        qemu_img: str = QEMU_IMG,
        start_timeout_s: float = START_TIMEOUT_S,
        disk_limit_gib: int | None = None,
        composition: Composition | None = None,
        vnc_listen: str = "127.0.0.1",
        migration_address: str = "127.0.0.1",
    ) -> None:
        self._address = migration_address  # where other hosts reach this one's QEMUs
        self._disk_limit_gib = disk_limit_gib
        self._vnc_listen = vnc_listen  # the host's address VNC servers listen on
        self._composition = composition or compose(qemu_img)
        self._facts: HypervisorFacts | None = None
        self._state_dir = state_dir.absolute()
        self._accel = accel
        self._qemu_binary = qemu_binary
        self._start_timeout_s = start_timeout_s
        self._procs: dict[int, Process] = {}  # QEMUs this driver object started
        self._locks: dict[int, asyncio.Lock] = {}
        self._starting: set[int] = set()
        self._progress: dict[int, int] = {}  # percent of a suspend or resume in flight
        self._moving: dict[int, MigrationProgress] = {}  # migrations in flight
        self._cancels: dict[int, asyncio.Event] = {}

    @property
    def name(self) -> str:
        return "qemu"

    async def facts(self) -> HypervisorFacts:
        if self._facts is None:
            self._facts = await measure_facts(self._qemu_binary, self._accel,
                                              self._composition)
        return self._facts

    async def host_info(self) -> HostInfo:
        resources = host_resources()
        return HostInfo(
            cores=resources.cores,
            memory_mib=resources.memory_mib,
            hypervisor=f"qemu-{self._accel}",
            disk_gib=disk_gib_of(self._state_dir, self._disk_limit_gib),
        )

    async def list_instances(self) -> list[VmStatus]:
        ids = list_instance_ids(self._state_dir)
        statuses = await asyncio.gather(*(self.status(i) for i in ids))
        return [s for s in statuses if s is not None]

    async def status(self, instance_id: int) -> VmStatus | None:
        """The instance's status, or None when it has no files here (or is being created)."""
        layout = self._layout(instance_id)
        if not layout.root.is_dir():
            return None
        if self._pid(instance_id) is None:
            if instance_id in self._starting:
                return None
            if clear_unstarted(layout, instance_id):  # an agent died mid-start: absent
                return None
            proc = self._procs.get(instance_id)
            detail = await process.ended_detail(proc) if proc is not None else None
            return VmStatus(instance_id, Observed.STOPPED,
                            describe(detail, read_ending(layout.root)))
        reboots = read_reboots(layout)
        if self._lock(instance_id).locked():  # an operation holds QMP (a reboot waits)
            return VmStatus(instance_id, Observed.RUNNING, "busy", reboots)
        try:
            state = await query_status(layout.qmp_socket, timeout_s=LIST_QMP_TIMEOUT_S,
                                       client_name=vm_name(instance_id))
        except DriverError as exc:
            log.debug("instance %d: QMP not answering: %s", instance_id, exc)
            return VmStatus(instance_id, Observed.RUNNING, "QMP not answering", reboots)
        observed = Observed.PAUSED if state in STOPPED_STATES else Observed.RUNNING
        return VmStatus(instance_id, observed, f"QMP status: {state}", reboots)

    async def start(self, request: VmRequest) -> None:
        await self._start(request, None)

    async def resume(self, request: VmRequest, path: Path) -> None:
        saved = SavedState(path)
        if not await asyncio.to_thread(saved.complete):
            raise DriverError(f"instance {request.instance_id} ({request.name}): no whole "
                              f"saved state in {path}")
        await self._start(request, saved)

    async def _start(self, request: VmRequest, saved: SavedState | None) -> None:
        iid = request.instance_id
        async with self._lock(iid):
            if self._pid(iid) is not None:  # (a saved state stays: it did not restore it)
                log.info("instance %d (%s): already running; start is a no-op", iid, request.name)
                return
            layout = self._layout(iid)
            argv = build_argv(request, layout, self._accel, self._qemu_binary,
                              self._composition, incoming=saved is not None)
            await self._check_start(request, layout)
            self._starting.add(iid)
            try:
                await self._launch(request, layout, argv, saved)
            finally:
                self._starting.discard(iid)
                self._progress.pop(iid, None)
            if saved is not None:  # restored and running: only now does the saved state go
                await asyncio.to_thread(shutil.rmtree, saved.root, True)
                log.info("instance %d (%s): resumed; its saved state %s removed", iid,
                         request.name, saved.root)

    # --- live migration (see .migration) ---------------------------------------------

    async def prepare_incoming(self, request: VmRequest, number: int,
                               tunables: MigrationTunables) -> IncomingEndpoint:
        iid, layout = request.instance_id, self._layout(request.instance_id)
        async with self._lock(iid):
            if self._pid(iid) is not None:
                endpoint = migration.read_endpoint(layout.root)
                if endpoint is not None and endpoint.number == number:
                    return endpoint
                raise DriverError(f"instance {iid} ({request.name}): a VM of it runs here "
                                  f"already; it cannot take migration {number}")
            argv = build_argv(request, layout, self._accel, self._qemu_binary,
                              self._composition, incoming=True, share_rw=True)
            await self._check_start(request, layout)
            self._starting.add(iid)
            try:
                await self._launch(request, layout, argv, None)
                async with qmp_session(layout.qmp_socket, client_name=vm_name(iid)) as qmp:
                    endpoint = await migration.serve_incoming(qmp, layout.root, self._address,
                                                              number, tunables)
            except BaseException:
                await self._undo_start(iid, layout)
                raise
            finally:
                self._starting.discard(iid)
        log.info("instance %d (%s): waiting for migration %d on %s (disks on NBD port %d)",
                 iid, request.name, number, endpoint.uri, endpoint.nbd_port)
        return endpoint

    def incoming_endpoint(self, instance_id: int) -> IncomingEndpoint | None:
        return migration.read_endpoint(self._layout(instance_id).root)

    async def migrate(self, instance_id: int, endpoint: IncomingEndpoint,
                      tunables: MigrationTunables) -> Sent:
        async with self._lock(instance_id):
            label = f"instance {instance_id} ({self._label(instance_id)})"
            if self._pid(instance_id) is None:
                raise DriverError(f"{label}: cannot migrate: its VM is not running here")
            cancel = self._cancels.setdefault(instance_id, asyncio.Event())
            try:
                async with qmp_session(self._layout(instance_id).qmp_socket,
                                       client_name=vm_name(instance_id)) as qmp:
                    return await migration.send(
                        qmp, endpoint, tunables, label,
                        lambda p: self._moving.__setitem__(instance_id, p), cancel)
            finally:
                self._moving.pop(instance_id, None)
                self._cancels.pop(instance_id, None)

    def cancel_migration(self, instance_id: int) -> None:
        if instance_id in self._cancels:
            self._cancels[instance_id].set()

    def migration_progress(self, instance_id: int) -> MigrationProgress | None:
        return self._moving.get(instance_id)

    async def finish_incoming(self, instance_id: int) -> None:
        async with self._lock(instance_id):
            layout = self._layout(instance_id)
            async with qmp_session(layout.qmp_socket, client_name=vm_name(instance_id)) as qmp:
                await migration.stop_serving(qmp, layout.root)
                announced = await migration.announce(qmp)
        log.info("instance %d (%s): runs here after its migration; NBD exports closed; %s",
                 instance_id, self._label(instance_id), announced)

    async def suspend(self, instance_id: int, path: Path) -> None:
        saved = SavedState(path)
        async with self._lock(instance_id):
            label = f"instance {instance_id} ({self._label(instance_id)})"  # as logged
            layout = self._layout(instance_id)
            pid = self._pid(instance_id)
            if pid is None:
                await self._finish_suspend(saved, layout, label)
                return
            socket = layout.qmp_socket
            memory = await qmp_execute(socket, "query-memory-size-summary")
            size = memory.get("base-memory", 0) if isinstance(memory, dict) else 0
            await asyncio.to_thread(savedstate.prepare, saved, int(size) + 2**24, layout.root)
            log.info("%s: saving its state to %s", label, path)
            try:
                await savedstate.save_memory(socket, saved, label, SAVE_TIMEOUT_S,
                                             self._progress_of(instance_id))
            finally:
                self._progress.pop(instance_id, None)
            await self._quit_or_kill(instance_id, pid)
            self._procs.pop(instance_id, None)
            await self._finish_suspend(saved, layout, label)

    async def _finish_suspend(self, saved: SavedState, layout: RuntimeLayout,
                              label: str) -> None:
        """After QEMU ended with its memory saved: the disks carried, the runtime
        directory removed (repeatable: an agent may have stopped in between)."""
        if await asyncio.to_thread(saved.complete) and not layout.root.exists():
            return
        if not saved.memory.exists():
            raise DriverError(f"{label}: cannot suspend: its VM is not running on this host")
        disks = await asyncio.to_thread(savedstate.finish_save, saved, layout.root)
        await asyncio.to_thread(remove_runtime_dir, layout)
        log.info("%s: suspended to %s (disks %s)", label, saved.root, ", ".join(disks) or "none")

    def saved(self, path: Path) -> bool:
        return SavedState(path).complete()

    def progress(self, instance_id: int) -> int | None:
        return self._progress.get(instance_id)

    def _progress_of(self, instance_id: int) -> Callable[[int], None]:
        return lambda pct: self._progress.__setitem__(instance_id, pct)

    async def stop(self, instance_id: int, timeout_s: float) -> None:
        async with self._lock(instance_id):
            pid = self._pid(instance_id)
            label = self._label(instance_id)
            if pid is None:
                log.info("instance %d (%s): not running; stop is a no-op", instance_id, label)
                return
            proc = self._procs.get(instance_id)
            root = self._layout(instance_id).root
            earlier = await asyncio.to_thread(read_ending, root)
            pressed = earlier.pressed_for(pid) if earlier is not None else None
            if pressed is None:
                pressed = time.time()
                await asyncio.to_thread(record_ending, root, "power-button", timeout_s,
                                        pressed_at=pressed, pid=pid)
            left_s = max(0.0, timeout_s - (time.time() - pressed))
            log.info("instance %d (%s): pressing the power button (kill after %.0f s%s)",
                     instance_id, label, left_s, "" if left_s == timeout_s else
                     f"; first pressed {time.time() - pressed:.0f} s ago")
            socket = self._layout(instance_id).qmp_socket
            try:  # a paused guest cannot see the button: thaw it first
                await qmp_execute(socket, "cont", timeout_s=POWERDOWN_QMP_TIMEOUT_S)
                await qmp_execute(socket, "system_powerdown", timeout_s=POWERDOWN_QMP_TIMEOUT_S)
            except DriverError as exc:
                log.warning("instance %d (%s): power button failed, killing: %s",
                            instance_id, label, exc)
                how: How = "killed-power-button-failed"
            else:
                if await process.wait_gone(pid, instance_id, proc, left_s):
                    log.info("instance %d (%s): powered off", instance_id, label)
                    return
                log.warning("instance %d (%s): still running after %s s, killing",
                            instance_id, label, timeout_s)
                how = "killed-after-timeout"
            await asyncio.to_thread(record_ending, root, how, timeout_s)
            await process.kill(pid, instance_id, proc)
            log.info("instance %d (%s): killed", instance_id, label)

    async def reboot(self, instance_id: int, number: int, hard: bool, timeout_s: float) -> None:
        async with self._lock(instance_id):
            label = self._label(instance_id)
            if self._pid(instance_id) is None:
                raise DriverError(f"instance {instance_id} ({label}): cannot reboot: its VM "
                                  "is not running on this host")
            layout = self._layout(instance_id)
            await reboot_vm(layout, instance_id, label, hard=hard, timeout_s=timeout_s)
            await asyncio.to_thread(write_reboots, layout, number)

    async def open_vnc(self, instance_id: int, password: str) -> VncEndpoint:
        async with self._lock(instance_id):
            layout = self._display_of(instance_id, "open VNC")
            port = await display.open_vnc(layout, instance_id, self._vnc_listen, password)
            return VncEndpoint(self._vnc_listen, port)

    async def close_vnc(self, instance_id: int) -> None:
        async with self._lock(instance_id):
            await display.close_vnc(self._display_of(instance_id, "close VNC"), instance_id)

    async def screenshot(self, instance_id: int) -> bytes:
        async with self._lock(instance_id):
            layout = self._display_of(instance_id, "take a screenshot")
            return await display.screenshot(layout, instance_id)

    def _display_of(self, instance_id: int, what: str) -> RuntimeLayout:
        """The layout of the running VM, started with a display; DriverError if not."""
        label = self._label(instance_id)
        if self._pid(instance_id) is None:
            raise DriverError(f"instance {instance_id} ({label}): cannot {what}: its VM is "
                              "not running on this host")
        layout = self._layout(instance_id)
        meta = read_meta(layout)
        if meta is not None and display.DISPLAY_ARGS[-1] not in meta.argv:
            raise DriverError(f"instance {instance_id} ({label}): cannot {what}: its VM was "
                              "started without a display (by an older agent)")
        return layout

    async def pause(self, instance_id: int) -> None:
        await self._run_state(instance_id, "stop", "paused")

    async def unpause(self, instance_id: int) -> None:
        await self._run_state(instance_id, "cont", "running")

    async def _run_state(self, instance_id: int, command: str, wanted: str) -> None:
        """QMP ``stop`` or ``cont``, then check QEMU's run state is ``wanted``."""
        async with self._lock(instance_id):
            label = self._label(instance_id)
            if self._pid(instance_id) is None:
                raise DriverError(f"instance {instance_id} ({label}): cannot {command}: "
                                  "its VM is not running on this host")
            socket = self._layout(instance_id).qmp_socket
            await qmp_execute(socket, command, client_name=vm_name(instance_id))
            state = await query_status(socket, client_name=vm_name(instance_id))
            if state != wanted:
                raise DriverError(f"instance {instance_id} ({label}): QMP {command} left "
                                  f"it {state}, not {wanted}")
            log.info("instance %d (%s): %s", instance_id, label, wanted)

    async def destroy(self, instance_id: int) -> None:
        async with self._lock(instance_id):
            layout = self._layout(instance_id)
            label = self._label(instance_id)
            pid = self._pid(instance_id)
            if pid is not None:
                await self._quit_or_kill(instance_id, pid)
            existed = layout.root.exists()
            await asyncio.to_thread(remove_runtime_dir, layout)
            self._procs.pop(instance_id, None)
            if pid is not None or existed:
                log.info("instance %d (%s): destroyed", instance_id, label)
            else:
                log.info("instance %d: already gone; destroy is a no-op", instance_id)

    async def usage(self, instance_id: int) -> VmUsage | None:
        """See ``Metered``: /proc and QMP ``query-blockstats`` (:mod:`.usage`); None
        while an operation holds the VM's monitor (a reboot waits on it)."""
        pid = self._pid(instance_id)
        if pid is None or instance_id in self._starting or self._lock(instance_id).locked():
            return None
        return await measure(instance_id, pid, self._layout(instance_id).qmp_socket,
                             client_name=vm_name(instance_id))

    async def console(self, instance_id: int, max_bytes: int) -> str:
        data = await asyncio.to_thread(self._read_console, instance_id, max_bytes)
        return data.decode("utf-8", errors="replace")

    def _read_console(self, instance_id: int, max_bytes: int) -> bytes:
        """The console's tail, after bounding the log if QEMU appends to it."""
        layout = self._layout(instance_id)
        meta = read_meta(layout)
        if meta is not None and any(APPEND_OPTION in arg for arg in meta.argv):
            rotate_if_large(layout.console_log, f"instance {instance_id}")
        return read_console(layout.console_log, max_bytes)

    # -- internals ---------------------------------------------------------

    def _layout(self, instance_id: int) -> RuntimeLayout:
        return RuntimeLayout.of(self._state_dir, instance_id)

    def _lock(self, instance_id: int) -> asyncio.Lock:
        return self._locks.setdefault(instance_id, asyncio.Lock())

    def _label(self, instance_id: int) -> str:
        meta = read_meta(self._layout(instance_id))
        return meta.name if meta is not None else "?"

    def _pid(self, instance_id: int) -> int | None:
        """The PID of the instance's live QEMU: our own child, or the one in its pidfile."""
        proc = self._procs.get(instance_id)
        if proc is not None and proc.returncode is None and process_matches(proc.pid, instance_id):
            return proc.pid
        return live_pid(self._layout(instance_id), instance_id)

    async def _check_start(self, request: VmRequest, layout: RuntimeLayout) -> None:
        """Cheap checks before anything is created; clears a stopped VM's leftovers."""
        if len(os.fsencode(layout.qmp_socket)) > UNIX_PATH_MAX:
            raise DriverError(f"instance {request.instance_id}: state directory path too long "
                              f"for a unix socket: {layout.qmp_socket}")
        await self._composition.check(request)
        if layout.root.exists():
            log.warning("instance %d (%s): replacing the files of its stopped VM",
                        request.instance_id, request.name)
            await asyncio.to_thread(remove_runtime_dir, layout)
            self._procs.pop(request.instance_id, None)

    async def _launch(self, request: VmRequest, layout: RuntimeLayout, argv: list[str],
                      saved: SavedState | None) -> None:
        """Create the files, run QEMU, wait for QMP (and, for a resume, restore its
        ``saved`` state); on any failure undo all of it (a saved state stays whole)."""
        iid = request.instance_id
        loop = asyncio.get_running_loop()
        started_at = loop.time()
        log.info("instance %d (%s): starting (%s, %d cores, %d MiB)",
                 iid, request.name, self._accel, request.cores, request.memory_mib)
        try:
            await self._create_files(request, layout, argv, saved)
            self._procs[iid] = await process.spawn(argv, layout.qemu_log)
            await self._wait_ready(request, layout, self._procs[iid])
            if saved is not None:
                await savedstate.restore_memory(
                    layout.qmp_socket, saved, f"instance {iid} ({request.name})",
                    SAVE_TIMEOUT_S, self._progress_of(iid))
        except BaseException as exc:
            tail = await self._undo_start(iid, layout)
            if isinstance(exc, DriverError):
                raise DriverError(f"instance {iid} ({request.name}): {exc.message}\n"
                                  f"command: {shlex.join(argv)}\nqemu.log:\n{tail}") from exc
            raise
        log.info("instance %d (%s): running, QMP ready after %.2f s",
                 iid, request.name, loop.time() - started_at)

    async def _create_files(self, request: VmRequest, layout: RuntimeLayout,
                            argv: list[str], saved: SavedState | None) -> None:
        try:
            create_runtime_dir(layout, new_meta(request.instance_id, request.name, argv))
            write_reboots(layout, request.reboots)  # a new VM owes none of those before
        except OSError as exc:
            raise DriverError(f"cannot create runtime directory {layout.root}: {exc}") from exc
        present: frozenset[Path] = frozenset()
        if saved is not None:  # its disks back from the saved state (links or copies)
            names = await asyncio.to_thread(savedstate.carry_disks, saved.root, layout.root)
            present = frozenset(layout.root / n for n in names)
        await self._composition.provide(request, layout.overlay, present=present)

    async def _wait_ready(self, request: VmRequest, layout: RuntimeLayout, proc: Process) -> None:
        """Until QMP answers ``query-status``; DriverError if QEMU exits or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._start_timeout_s
        while True:
            if layout.qmp_socket.exists():
                try:
                    await query_status(layout.qmp_socket, timeout_s=2.0,
                                       client_name=vm_name(request.instance_id))
                    return
                except DriverError as exc:
                    log.debug("instance %d: QMP not ready: %s", request.instance_id, exc)
            if loop.time() >= deadline:
                raise DriverError(f"QMP not ready after {self._start_timeout_s} s")
            try:
                await asyncio.wait_for(proc.wait(), process.POLL_INTERVAL_S)
            except TimeoutError:
                continue
            raise DriverError(process.exit_detail(proc))

    async def _undo_start(self, instance_id: int, layout: RuntimeLayout) -> str:
        """Kill QEMU if it runs, remove the runtime dir; return the tail of qemu.log."""
        proc = self._procs.pop(instance_id, None)
        if proc is not None and proc.returncode is None:
            await process.kill(proc.pid, instance_id, proc)
        tail = read_tail(layout.qemu_log, LOG_TAIL_BYTES).decode("utf-8", errors="replace")
        await asyncio.to_thread(remove_runtime_dir, layout)
        log.warning("instance %d: start failed; cleaned up", instance_id)
        return tail

    async def _quit_or_kill(self, instance_id: int, pid: int) -> None:
        proc = self._procs.get(instance_id)
        try:
            await qmp_execute(self._layout(instance_id).qmp_socket, "quit",
                              timeout_s=QUIT_TIMEOUT_S)
        except DriverError as exc:
            log.debug("instance %d: QMP quit failed, killing: %s", instance_id, exc)
        if not await process.wait_gone(pid, instance_id, proc, QUIT_TIMEOUT_S):
            await process.kill(pid, instance_id, proc)
