"""The QEMU command line, built as a list of arguments (never a shell string).

Pure: the same request and layout always give the same argv, and nothing is
touched. Values placed inside QEMU's ``key=value,...`` options have their
commas doubled, QEMU's escape, so a path cannot smuggle in another option.
"""

from __future__ import annotations

import re
from pathlib import Path

from tashi.agent.drivers.base import DiskPlan, NicPlan, VmRequest
from tashi.agent.drivers.composition import Composition, compose
from tashi.agent.drivers.network.base import USER, NicBackend
from tashi.agent.drivers.qemu.accel import Accelerator
from tashi.agent.drivers.qemu.display import DISPLAY_ARGS
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, vm_name
from tashi.agent.drivers.storage import DiskTarget
from tashi.domain.capabilities import NicModel
from tashi.domain.errors import DriverError
from tashi.domain.models import DiskBus, DiskCache

QEMU_BINARY = "qemu-system-x86_64"
MACHINE_TYPE = "pc"

#: NicPlan.model -> QEMU device.
NIC_DEVICES: dict[str, str] = {
    NicModel.VIRTIO: "virtio-net-pci",
    NicModel.E1000: "e1000",
}
#: DiskPlan.bus -> QEMU device (SCSI disks sit on one virtio-scsi controller).
DISK_DEVICES: dict[DiskBus, str] = {
    DiskBus.VIRTIO: "virtio-blk-pci",
    DiskBus.SCSI: "scsi-hd",
    DiskBus.IDE: "ide-hd",
}
SCSI_CONTROLLER = "scsi0"
#: The NIC backends QEMU attaches (see tashi.agent.drivers.network).
NIC_BACKENDS = frozenset({USER})
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", re.IGNORECASE)


def opt_value(value: str | Path) -> str:
    """``value`` escaped for use inside a QEMU ``key=value,...`` option."""
    return str(value).replace(",", ",,")


def build_argv(
    request: VmRequest,
    layout: RuntimeLayout,
    accel: Accelerator,
    qemu_binary: str = QEMU_BINARY,
    composition: Composition | None = None,
    *,
    incoming: bool = False,
    share_rw: bool = False,
) -> list[str]:
    """The full QEMU argv for ``request``, its files under ``layout``, its disks and
    NICs where the host's ``composition`` puts them (default: :func:`compose`);
    ``incoming``: waiting for its state (``-incoming defer``: a resume, a migration);
    ``share_rw``: its disk devices share writing (with a migration's NBD exports).

    Raises DriverError for what this driver cannot do (an unknown NIC model, a network
    or disk kind the host does not serve, a malformed MAC, non-positive sizes)."""
    if request.cores < 1 or request.memory_mib < 1:
        raise DriverError(
            f"instance {request.instance_id}: cores and memory must be positive, "
            f"got {request.cores} cores and {request.memory_mib} MiB"
        )
    argv = [qemu_binary, "-name", vm_name(request.instance_id)]
    argv += machine_args(accel)
    argv += ["-smp", str(request.cores), "-m", f"{request.memory_mib}M"]
    argv += ["-nodefaults", "-no-user-config", "-display", "none"]
    argv += DISPLAY_ARGS  # a small VGA, and VNC that listens only when asked (see display)
    argv += runtime_args(layout)
    iid, composition = request.instance_id, composition or compose()
    if any(d.bus is DiskBus.SCSI for d in request.disks):
        argv += ["-device", f"virtio-scsi-pci,id={SCSI_CONTROLLER}"]
    for index, disk in enumerate(request.disks):
        argv += disk_args(index, disk,
                          composition.disk_target(iid, disk, layout.overlay(index)),
                          share_rw=share_rw)
    for index, nic in enumerate(request.nics):
        argv += nic_args(index, nic, composition.nic_backend(iid, index, nic), iid)
    return argv + (["-incoming", "defer"] if incoming else [])


def cpu_model(accel: Accelerator) -> str:
    """The CPU guests see: the host's own under KVM, QEMU's richest emulated one else."""
    return "host" if accel is Accelerator.KVM else "max"


def machine_args(accel: Accelerator) -> list[str]:
    return ["-machine", MACHINE_TYPE, "-accel", str(accel), "-cpu", cpu_model(accel)]


def runtime_args(layout: RuntimeLayout) -> list[str]:
    """Serial console to a file, QMP on a unix socket, the pidfile."""
    return [
        "-chardev", f"file,id=serial0,path={opt_value(layout.console_log)},append=on",
        "-serial", "chardev:serial0",
        "-chardev", f"socket,id=qmp,path={opt_value(layout.qmp_socket)},server=on,wait=off",
        "-mon", "chardev=qmp,mode=control",
        "-pidfile", str(layout.pidfile),
        "-msg", "timestamp=on",
    ]


def disk_args(index: int, disk: DiskPlan, target: DiskTarget, *,
              share_rw: bool = False) -> list[str]:
    """Disk ``index`` on its bus, where its provider put it (an overlay, the image itself,
    a blank or scratch file), with its cache mode (QEMU's default, writeback, is left
    implicit)."""
    drive = f"if=none,id=disk{index},file={opt_value(target.path)},format={target.format}"
    if disk.cache is not DiskCache.WRITEBACK:
        drive += f",cache={disk.cache}"
    if disk.read_only:
        drive += ",readonly=on"
    device = f"{DISK_DEVICES[disk.bus]},drive=disk{index}"
    if disk.bus is DiskBus.SCSI:
        device += f",bus={SCSI_CONTROLLER}.0"
    if index == 0:
        device += ",bootindex=0"
    if share_rw and not disk.read_only:
        device += ",share-rw=on"
    return ["-drive", drive, "-device", device]


def nic_args(index: int, nic: NicPlan, backend: NicBackend, instance_id: int) -> list[str]:
    """A NIC on its ``backend``. A ``user`` backend is QEMU's NAT (no vhost), restricted.

    ``restrict=on`` isolates the guest from its host and everything beyond it: without
    it, the NAT's gateway (10.0.2.2) is the host's 127.0.0.1, and any guest reaches
    every loopback-only service there (the manager's API, PostgreSQL, BMC emulators).
    The NAT's own DHCP still answers."""
    where = f"instance {instance_id}, NIC {index}"
    if backend.kind not in NIC_BACKENDS:
        raise DriverError(f"{where}: NIC backend {backend.kind!r} is not supported by the "
                          f"qemu driver (supported: {', '.join(sorted(NIC_BACKENDS))})")
    device = NIC_DEVICES.get(nic.model)
    if device is None:
        raise DriverError(f"{where}: NIC model {nic.model!r} is not supported "
                          f"(supported: {', '.join(sorted(NIC_DEVICES))})")
    if not _MAC.fullmatch(nic.mac):
        raise DriverError(f"{where}: malformed MAC address {nic.mac!r}")
    return [
        "-netdev", f"user,id=net{index},restrict=on",
        "-device", f"{device},netdev=net{index},mac={nic.mac.lower()}",
    ]
