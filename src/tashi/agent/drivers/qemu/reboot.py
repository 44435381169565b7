"""Rebooting a QEMU VM: the guest's own reboot, or a reset.

Soft: QMP ``send-key`` ctrl-alt-delete, which a guest takes as a reboot request (Linux
signals its init; the Tashi guest image's init reboots), then the QMP ``RESET`` event is
awaited; a guest that did not reboot within the timeout is reset (``system_reset``), as
a hard reboot is at once. The number of the last reboot carried out is kept in the
runtime directory (``reboots``), so a restarted agent neither repeats nor forgets one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tashi.agent.drivers.qemu.qmp import execute_and_wait, qmp_execute
from tashi.agent.drivers.qemu.runtime import RuntimeLayout, vm_name, write_atomically

log = logging.getLogger(__name__)
CTRL_ALT_DELETE = {"keys": [{"type": "qcode", "data": k} for k in ("ctrl", "alt", "delete")]}


def reboots_file(layout: RuntimeLayout) -> Path:
    return layout.root / "reboots"


def read_reboots(layout: RuntimeLayout) -> int:
    """The number of the last reboot carried out (0: none, or unreadable)."""
    try:
        return int(reboots_file(layout).read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def write_reboots(layout: RuntimeLayout, number: int) -> None:
    write_atomically(reboots_file(layout), f"{number}\n")


async def reboot_vm(layout: RuntimeLayout, instance_id: int, label: str, *, hard: bool,
                    timeout_s: float) -> str:
    """Reboot the VM; how it went, in words. Raises DriverError when QMP fails."""
    name = vm_name(instance_id)
    if not hard:
        if await execute_and_wait(layout.qmp_socket, "send-key", CTRL_ALT_DELETE, "RESET",
                                  timeout_s, client_name=name):
            log.info("instance %d (%s): rebooted by its guest", instance_id, label)
            return "rebooted by its guest"
        log.warning("instance %d (%s): no reboot within %s s of ctrl-alt-delete; resetting",
                    instance_id, label, timeout_s)
    await qmp_execute(layout.qmp_socket, "system_reset", client_name=name)
    log.info("instance %d (%s): reset", instance_id, label)
    return "reset" if hard else f"reset after {timeout_s:g} s"
