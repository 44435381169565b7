"""The one registry of hypervisor drivers: name -> how to build it from settings."""

from __future__ import annotations

from collections.abc import Callable

from tashi.agent.drivers.base import HypervisorDriver
from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.drivers.qemu import QemuDriver, detect_accelerator
from tashi.agent.settings import AgentSettings


def _qemu(settings: AgentSettings) -> HypervisorDriver:
    return QemuDriver(settings.state_dir / "qemu", detect_accelerator(settings.accel),
                      disk_limit_gib=settings.disk_gib, vnc_listen=settings.vnc_listen,
                      migration_address=settings.address or "127.0.0.1")


def _fake(settings: AgentSettings) -> HypervisorDriver:
    return FakeDriver(vnc_host=settings.vnc_listen)


DRIVERS: dict[str, Callable[[AgentSettings], HypervisorDriver]] = {
    "qemu": _qemu,
    "fake": _fake,
}


def make_driver(settings: AgentSettings) -> HypervisorDriver:
    return DRIVERS[settings.driver](settings)
