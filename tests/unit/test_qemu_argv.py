"""The QEMU argv builder: a pure function from a request to a list of arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tashi.agent.drivers.base import DiskPlan, NicPlan, VmRequest
from tashi.agent.drivers.qemu.accel import Accelerator
from tashi.agent.drivers.qemu.argv import build_argv, opt_value
from tashi.agent.drivers.qemu.display import VGA_MEMORY_MIB
from tashi.agent.drivers.qemu.runtime import RuntimeLayout
from tashi.domain.errors import DriverError
from tashi.domain.models import DiskBus, DiskCache, ImageFormat

LAYOUT = RuntimeLayout(Path("/var/lib/tashi/instances/7"))
MAC = "52:54:00:00:00:07"


def request(
    disks: tuple[DiskPlan, ...] = (),
    nics: tuple[NicPlan, ...] = (),
) -> VmRequest:
    return VmRequest(instance_id=7, name="web", cores=2, memory_mib=128, disks=disks, nics=nics)


VGA = f"VGA,vgamem_mb={VGA_MEMORY_MIB}"  # every VM's display


def after(argv: list[str], flag: str) -> list[str]:
    """Every value that follows ``flag``."""
    return [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == flag]


def test_basics() -> None:
    argv = build_argv(request(), LAYOUT, Accelerator.TCG)
    assert argv[0] == "qemu-system-x86_64"
    assert after(argv, "-name") == ["tashi-7"]
    assert after(argv, "-machine") == ["pc"]
    assert after(argv, "-smp") == ["2"]
    assert after(argv, "-m") == ["128M"]
    for flag in ("-nodefaults", "-no-user-config"):
        assert flag in argv
    assert after(argv, "-display") == ["none"]
    assert after(argv, "-vnc") == ["none,password=on"]  # listens only when asked
    assert after(argv, "-device") == [VGA]
    assert after(argv, "-pidfile") == ["/var/lib/tashi/instances/7/qemu.pid"]


def test_custom_binary() -> None:
    argv = build_argv(request(), LAYOUT, Accelerator.TCG, qemu_binary="/opt/qemu/bin/qemu")
    assert argv[0] == "/opt/qemu/bin/qemu"


@pytest.mark.parametrize(("accel", "cpu"), [(Accelerator.TCG, "max"), (Accelerator.KVM, "host")])
def test_accelerator_and_cpu(accel: Accelerator, cpu: str) -> None:
    argv = build_argv(request(), LAYOUT, accel)
    assert after(argv, "-accel") == [str(accel)]
    assert after(argv, "-cpu") == [cpu]


def test_console_and_qmp_in_the_runtime_dir() -> None:
    argv = build_argv(request(), LAYOUT, Accelerator.TCG)
    chardevs = after(argv, "-chardev")
    assert "file,id=serial0,path=/var/lib/tashi/instances/7/console.log,append=on" in chardevs
    assert ("socket,id=qmp,path=/var/lib/tashi/instances/7/qmp.sock,server=on,wait=off"
            in chardevs)
    assert after(argv, "-serial") == ["chardev:serial0"]
    assert after(argv, "-mon") == ["chardev=qmp,mode=control"]


def test_overlay_and_persistent_disks() -> None:
    disks = (
        DiskPlan(Path("/images/base.raw"), ImageFormat.RAW, persistent=False),
        DiskPlan(Path("/images/data.raw"), ImageFormat.RAW, persistent=True),
        DiskPlan(Path("/images/more.qcow2"), ImageFormat.QCOW2, persistent=True),
    )
    argv = build_argv(request(disks=disks), LAYOUT, Accelerator.TCG)
    assert after(argv, "-drive") == [
        "if=none,id=disk0,file=/var/lib/tashi/instances/7/disk0.qcow2,format=qcow2",
        "if=none,id=disk1,file=/images/data.raw,format=raw",
        "if=none,id=disk2,file=/images/more.qcow2,format=qcow2",
    ]
    assert after(argv, "-device") == [
        VGA,
        "virtio-blk-pci,drive=disk0,bootindex=0",
        "virtio-blk-pci,drive=disk1",
        "virtio-blk-pci,drive=disk2",
    ]


def test_relative_persistent_image_is_made_absolute() -> None:
    disk = DiskPlan(Path("images/a.qcow2"), ImageFormat.QCOW2, persistent=True)
    (drive,) = after(build_argv(request(disks=(disk,)), LAYOUT, Accelerator.TCG), "-drive")
    assert f"file={Path.cwd() / 'images/a.qcow2'}," in drive


@pytest.mark.parametrize(("model", "device"), [("virtio", "virtio-net-pci"), ("e1000", "e1000")])
def test_nic_models(model: str, device: str) -> None:
    nics = (NicPlan(MAC, model, "user"), NicPlan("52:54:00:00:01:07", "virtio", "user"))
    argv = build_argv(request(nics=nics), LAYOUT, Accelerator.TCG)
    assert after(argv, "-netdev") == ["user,id=net0,restrict=on", "user,id=net1,restrict=on"]
    assert after(argv, "-device") == [
        VGA,
        f"{device},netdev=net0,mac={MAC}",
        "virtio-net-pci,netdev=net1,mac=52:54:00:00:01:07",
    ]
    assert not any("vhost" in arg for arg in argv)


def test_bad_network_kind_is_refused() -> None:
    with pytest.raises(DriverError, match="network kind 'bridge' is not supported"):
        build_argv(request(nics=(NicPlan(MAC, "virtio", "bridge"),)), LAYOUT, Accelerator.TCG)


def test_bad_nic_model_is_refused() -> None:
    with pytest.raises(DriverError, match="NIC model 'rtl8139'"):
        build_argv(request(nics=(NicPlan(MAC, "rtl8139", "user"),)), LAYOUT, Accelerator.TCG)


@pytest.mark.parametrize(
    "mac", ["52:54:00:00:00", "52:54:00:00:00:07,romfile=/x", "zz:54:00:00:00:07"]
)
def test_malformed_mac_is_refused(mac: str) -> None:
    with pytest.raises(DriverError, match="malformed MAC"):
        build_argv(request(nics=(NicPlan(mac, "virtio", "user"),)), LAYOUT, Accelerator.TCG)


def test_nonpositive_sizes_are_refused() -> None:
    bad = VmRequest(instance_id=7, name="web", cores=0, memory_mib=128, disks=(), nics=())
    with pytest.raises(DriverError, match="must be positive"):
        build_argv(bad, LAYOUT, Accelerator.TCG)


def test_shell_metacharacters_stay_literal() -> None:
    """A list, not a shell string: a path with ; $( ) and spaces is one argument."""
    odd = Path("/images/a b;$(reboot)`x`.qcow2")
    layout = RuntimeLayout(Path("/state dir/$HOME/instances/7"))
    disk = DiskPlan(odd, ImageFormat.QCOW2, persistent=True)
    argv = build_argv(request(disks=(disk,)), layout, Accelerator.TCG)
    assert isinstance(argv, list)
    assert all(isinstance(arg, str) for arg in argv)
    assert after(argv, "-drive") == [f"if=none,id=disk0,file={odd},format=qcow2"]
    assert after(argv, "-pidfile") == ["/state dir/$HOME/instances/7/qemu.pid"]


def test_commas_in_paths_are_escaped() -> None:
    """QEMU's escape for a comma inside an option value is a doubled comma."""
    disk = DiskPlan(Path("/images/x,format=raw"), ImageFormat.QCOW2, persistent=True)
    (drive,) = after(build_argv(request(disks=(disk,)), LAYOUT, Accelerator.TCG), "-drive")
    assert drive == "if=none,id=disk0,file=/images/x,,format=raw,format=qcow2"
    assert opt_value("a,b,,c") == "a,,b,,,,c"


def test_is_deterministic() -> None:
    disks = (DiskPlan(Path("/images/base.qcow2"), ImageFormat.QCOW2, persistent=False),)
    nics = (NicPlan(MAC, "virtio", "user"),)
    req = request(disks=disks, nics=nics)
    assert build_argv(req, LAYOUT, Accelerator.KVM) == build_argv(req, LAYOUT, Accelerator.KVM)


def test_empty_disks_buses_and_cache_modes() -> None:
    disks = (DiskPlan(Path("/img/base.qcow2"), ImageFormat.QCOW2, False),
             DiskPlan(None, ImageFormat.RAW, False, size_gib=100, scratch=True,
                      bus=DiskBus.SCSI, cache=DiskCache.NONE),
             DiskPlan(None, ImageFormat.QCOW2, False, size_gib=5, bus=DiskBus.IDE))
    argv = build_argv(request(disks), LAYOUT, Accelerator.TCG)
    root = "/var/lib/tashi/instances/7"
    assert after(argv, "-drive") == [
        f"if=none,id=disk0,file={root}/disk0.qcow2,format=qcow2",
        f"if=none,id=disk1,file={root}/disk1.raw,format=raw,cache=none",
        f"if=none,id=disk2,file={root}/disk2.qcow2,format=qcow2"]
    assert after(argv, "-device")[:5] == [
        VGA, "virtio-scsi-pci,id=scsi0", "virtio-blk-pci,drive=disk0,bootindex=0",
        "scsi-hd,drive=disk1,bus=scsi0.0", "ide-hd,drive=disk2"]


def test_no_scsi_controller_without_a_scsi_disk() -> None:
    disks = (DiskPlan(Path("/img/base.qcow2"), ImageFormat.QCOW2, False),)
    assert not any("scsi" in a for a in build_argv(request(disks), LAYOUT, Accelerator.TCG))
