"""The QEMU hypervisor driver: KVM where the host really has it, else TCG."""

from tashi.agent.drivers.qemu.accel import Accelerator, choose_accelerator, detect_accelerator
from tashi.agent.drivers.qemu.driver import QemuDriver

__all__ = ["Accelerator", "QemuDriver", "choose_accelerator", "detect_accelerator"]
