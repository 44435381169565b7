"""The VM lifecycle on real QEMU, seen from inside the guest: the guest image prints
``TASHI-GUEST-TICK n`` once a second (n never reset), so a pause is a gap in the count
and an unpause the count going on from where it stopped."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tests.e2e.conftest import Stack, qemu_pids, running_stack, wait_console, wait_state

pytestmark = pytest.mark.e2e

TICK = re.compile(r"TASHI-GUEST-TICK (\d+)")
REPORTED_S = 2.0  # the console reaches the manager within a report or two


async def ticks(client: TashiClient, ref: int) -> list[int]:
    return [int(n) for n in TICK.findall(await client.console(ref))]


async def test_pause_stops_the_guest_and_unpause_goes_on(tmp_path: Path,
                                                         guest_image: Path) -> None:
    async with running_stack(Stack(tmp_path), guest_image) as (_st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "ticker", "image": "guest", "memory_mib": 128}))
        await wait_state(client, inst.id, "Running")
        await wait_console(client, inst.id, "TASHI-GUEST-TICK 2")
        await client.operate_instance(inst.id, "pause")
        await wait_state(client, inst.id, "Paused", timeout_s=30)
        await asyncio.sleep(REPORTED_S)  # the last ticks before the pause arrive
        before = await ticks(client, inst.id)
        await asyncio.sleep(3)
        assert await ticks(client, inst.id) == before, "the guest ticked while Paused"
        await client.operate_instance(inst.id, "unpause")
        await wait_state(client, inst.id, "Running", timeout_s=30)
        await wait_console(client, inst.id, f"TASHI-GUEST-TICK {before[-1] + 2}", timeout_s=30)
        after = await ticks(client, inst.id)
        assert after[:len(before)] == before
        assert after == list(range(1, len(after) + 1)), after  # on from where it stopped


async def test_blank_and_scratch_disks_appear_in_the_guest(tmp_path: Path,
                                                           guest_image: Path) -> None:
    """A 100 GiB scratch disk (sparse) and a 2 GiB blank one, seen by the guest."""
    async with running_stack(Stack(tmp_path), guest_image) as (st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "disks", "image": "guest", "memory_mib": 128,
             "disks": [{"scratch_gib": 100}, {"size_gib": 2}]}))
        shown = await wait_state(client, inst.id, "Running")
        assert shown.disk_gib == 102
        console = await wait_console(client, inst.id, "TASHI-GUEST-READY")
        assert "TASHI-GUEST-DISK vdb 107374182400" in console, console[-2000:]
        assert "TASHI-GUEST-DISK vdc 2147483648" in console, console[-2000:]
        scratch = next(st.agent_state.rglob("disk1.raw"))
        assert scratch.stat().st_blocks * 512 < 64 * 1024 * 1024  # sparse: barely written
        host = (await client.list_hosts())[0]
        assert host.used_disk_gib == 102  # the claim
        await client.destroy_instance(inst.id)
        for _ in range(240):
            if not scratch.exists():
                break
            await asyncio.sleep(0.25)
        assert not scratch.exists(), "the scratch file outlived its instance"


async def test_a_nocloud_seed_names_the_guest_and_runs_its_script(tmp_path: Path,
                                                                  guest_image: Path) -> None:
    script = "#!/bin/sh\necho TASHI-TEST-SCRIPT ran as $(hostname)\nexit 7\n"
    async with running_stack(Stack(tmp_path), guest_image) as (_st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "seeded", "image": "guest", "memory_mib": 128, "hostname": "web-7",
             "user_data": script}))
        shown = await wait_state(client, inst.id, "Running")
        assert shown.seed is not None
        assert (shown.seed.hostname, shown.seed.user_data_bytes) == ("web-7", len(script))
        console = await wait_console(client, inst.id, "TASHI-GUEST-USERDATA exit")
        assert "TASHI-GUEST-HOSTNAME web-7" in console, console[-2000:]
        assert "TASHI-TEST-SCRIPT ran as web-7" in console, console[-2000:]
        assert "TASHI-GUEST-USERDATA exit 7" in console, console[-2000:]


async def test_soft_and_hard_reboots_restart_the_guest(tmp_path: Path,
                                                       guest_image: Path) -> None:
    """A soft reboot (ctrl-alt-delete: the guest's kernel restarts) and a hard one (a
    reset) each start the count again from 1, in the same QEMU process."""
    async with running_stack(Stack(tmp_path), guest_image) as (st, client):
        inst = await client.create_instance(InstanceCreate.model_validate(
            {"name": "rebooter", "image": "guest", "memory_mib": 128,
             "shutdown_timeout_s": 30}))
        await wait_state(client, inst.id, "Running")
        await wait_console(client, inst.id, "TASHI-GUEST-TICK 2")
        (pid,) = qemu_pids(inst.id, st.agent_state)
        for number, hard in ((1, False), (2, True)):
            asked = await client.reboot_instance(inst.id, hard=hard)
            assert asked.reboots == number
            for _ in range(240):
                shown = await client.get_instance(inst.id)
                if shown.reboots_done >= number:
                    break
                await asyncio.sleep(0.25)
            assert shown.reboots_done == number, shown
            for _ in range(240):
                if (await ticks(client, inst.id)).count(2) > number:
                    break
                await asyncio.sleep(0.25)
            counts = await ticks(client, inst.id)
            assert counts.count(1) == number + 1, counts  # a fresh count after each reboot
        assert qemu_pids(inst.id, st.agent_state) == [pid]  # the same process throughout
        assert shown.state == "Running"
