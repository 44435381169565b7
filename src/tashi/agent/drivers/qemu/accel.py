"""Which accelerator QEMU uses: KVM when the host really can, else TCG.

``/dev/kvm`` existing is not enough: some hosts expose a paravirtual stub that
opens fine but runs guests hundreds of times slower than TCG. So ``auto`` wants
both a usable ``/dev/kvm`` and the hardware virtualization flag (``vmx`` for
Intel, ``svm`` for AMD) in ``/proc/cpuinfo``.
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from pathlib import Path

from tashi.domain.errors import InvalidInput

log = logging.getLogger(__name__)

KVM_DEVICE = Path("/dev/kvm")
CPUINFO = Path("/proc/cpuinfo")
CHOICES = ("auto", "kvm", "tcg")


class Accelerator(StrEnum):
    """The value is QEMU's ``-accel`` name."""

    KVM = "kvm"
    TCG = "tcg"


def cpu_has_virtualization(cpuinfo: str) -> bool:
    """True when any ``flags`` line of ``/proc/cpuinfo`` lists ``vmx`` or ``svm``."""
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags" and {"vmx", "svm"} & set(value.split()):
            return True
    return False


def choose_accelerator(choice: str, cpuinfo: str, kvm_usable: bool) -> Accelerator:
    """Pure: the accelerator for ``choice`` (``auto``, ``kvm`` or ``tcg``) on a host
    whose ``/proc/cpuinfo`` reads ``cpuinfo`` and whose ``/dev/kvm`` is usable or not.

    An explicit ``kvm`` is honoured even where it looks unusable (with a warning):
    the operator asked for it."""
    if choice not in CHOICES:
        raise InvalidInput(f"accelerator must be one of {', '.join(CHOICES)}, not {choice!r}")
    has_flags = cpu_has_virtualization(cpuinfo)
    if choice == "tcg":
        log.info("accelerator tcg: chosen explicitly")
        return Accelerator.TCG
    if choice == "kvm":
        if not (kvm_usable and has_flags):
            log.warning("accelerator kvm: chosen explicitly, but /dev/kvm usable=%s and "
                        "vmx/svm flags=%s", kvm_usable, has_flags)
        else:
            log.info("accelerator kvm: chosen explicitly")
        return Accelerator.KVM
    if kvm_usable and has_flags:
        log.info("accelerator kvm: auto, /dev/kvm is usable and the CPU has vmx/svm")
        return Accelerator.KVM
    log.info("accelerator tcg: auto, /dev/kvm usable=%s, vmx/svm flags=%s",
             kvm_usable, has_flags)
    return Accelerator.TCG


def kvm_device_usable(device: Path = KVM_DEVICE) -> bool:
    """True when ``device`` opens for reading and writing."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def detect_accelerator(choice: str = "auto") -> Accelerator:
    """:func:`choose_accelerator` for this machine."""
    try:
        cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        cpuinfo = ""
    return choose_accelerator(choice, cpuinfo, kvm_device_usable())
