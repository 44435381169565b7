"""Usage figures of a real QEMU VM, through the manager: its CPU seconds grow, its
resident memory is plausible, a guest writing to a disk makes the written bytes grow,
and ``tashi vm show`` says what it cannot measure (network bytes of a user-mode NIC)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate, UsageOut
from tashi.client import TashiClient
from tashi.common.subprocesses import communicate
from tests.e2e.conftest import BIN, Proc, Stack, running_stack, wait_console, wait_state

pytestmark = pytest.mark.e2e

MEMORY_MIB = 128
MIB = 1024 * 1024
WRITTEN_MIB = 16
# the guest waits a while before writing, so the figures before it are seen first
SCRIPT = f"""#!/bin/sh
sleep 12
dd if=/dev/urandom of=/dev/vdb bs=1M count={WRITTEN_MIB} conv=fsync 2>/dev/null
echo TASHI-TEST-WROTE $?
"""


@dataclass
class SampledStack(Stack):
    """The e2e stack, its agent measuring the VMs every second (default: 60 s)."""

    def agent(self) -> Proc:
        proc = super().agent()
        proc.env["TASHI_AGENT_USAGE_EVERY_S"] = "1"
        return proc


async def sample_after(client: TashiClient, ref: int, after: float,
                       timeout_s: float = 60) -> UsageOut:
    """The first usage figures received after ``after`` (seconds since the epoch)."""
    deadline = time.monotonic() + timeout_s
    while True:
        usage = (await client.get_instance(ref)).usage
        if usage is not None and usage.at.timestamp() > after:
            return usage
        if time.monotonic() > deadline:
            raise AssertionError(f"instance {ref}: no usage figures after {after}: {usage}")
        await asyncio.sleep(0.25)


async def test_a_vms_figures_grow_as_it_runs_and_writes(tmp_path: Path,
                                                       guest_image: Path) -> None:
    async with running_stack(SampledStack(tmp_path), guest_image) as (st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "busy", "image": "guest", "memory_mib": MEMORY_MIB,
             "disks": [{"scratch_gib": 1}], "user_data": SCRIPT}))
        await wait_state(client, inst.id, "Running")
        await wait_console(client, inst.id, "TASHI-GUEST-READY")
        first = await sample_after(client, inst.id, time.time())
        console = await client.console(inst.id)
        assert "TASHI-TEST-WROTE" not in console, "the guest wrote before the first figures"
        assert first.disk_written_bytes < WRITTEN_MIB * MIB, first
        assert first.host == "e2e-host"
        assert 16 * MIB < first.memory_rss_bytes < (MEMORY_MIB + 512) * MIB, first
        assert first.disk_read_bytes > 0, first  # it booted from its disk
        assert first.net_rx_bytes is None, first  # user-mode networking: not measured
        assert first.net_tx_bytes is None, first

        await wait_console(client, inst.id, "TASHI-TEST-WROTE 0", timeout_s=120)
        after = await sample_after(client, inst.id, time.time())
        assert after.cpu_seconds > first.cpu_seconds, (first, after)
        assert after.disk_written_bytes - first.disk_written_bytes >= WRITTEN_MIB * MIB, \
            (first, after)
        assert after.started_at == first.started_at  # one process, counted from its start

        proc = await asyncio.create_subprocess_exec(
            str(BIN / "tashi"), "vm", "show", str(inst.id), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TASHI_URL": st.url, "TASHI_TOKEN": st.admin_token})
        out, err = await communicate(proc, 60)
        shown = out.decode()
        assert proc.returncode == 0, err.decode()
        assert "network:" in shown, shown
        assert "not measured for user-mode networks" in shown, shown
        assert "on host e2e-host" in shown, shown
