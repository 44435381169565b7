"""Suspend and resume on real QEMU, seen from inside the guest: its tick count goes on
above the last one before the suspend (the guest's memory came back), a block it wrote
to its disk before is read back after (its overlay came back), and while it is
suspended no QEMU runs for it and its host holds no claim of it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tests.e2e.conftest import Stack, qemu_pids, running_stack, wait_console, wait_state

pytestmark = pytest.mark.e2e

TICK = re.compile(r"TASHI-GUEST-TICK (\d+)")
MARK = "TASHI-SUSPEND-MARK-4f2a"
# Writes a block to its blank disk, then, once a second, reads it back past the page
# cache (dropped first), so what is printed comes from the disk.
SCRIPT = f"""#!/bin/sh
printf '{MARK}' | dd of=/dev/vdb bs=512 conv=sync 2>/dev/null && sync
echo TASHI-TEST-WROTE
( while :; do
    echo 3 > /proc/sys/vm/drop_caches
    echo "TASHI-TEST-READ $(head -c {len(MARK)} /dev/vdb)"
    sleep 1
  done ) &
"""


async def ticks(client: TashiClient, ref: int) -> list[int]:
    return [int(n) for n in TICK.findall(await client.console(ref))]


async def create(client: TashiClient, name: str) -> int:
    inst = await client.create_instance(InstanceCreate.model_validate(
        {"name": name, "image": "guest", "memory_mib": 128, "disks": [{"size_gib": 1}],
         "user_data": SCRIPT}))
    await wait_state(client, inst.id, "Running")
    await wait_console(client, inst.id, "TASHI-TEST-WROTE", timeout_s=60)
    return inst.id


async def test_suspend_then_resume_goes_on_where_it_stopped(tmp_path: Path,
                                                            guest_image: Path) -> None:
    async with running_stack(Stack(tmp_path), guest_image) as (st, client):
        iid = await create(client, "sleeper")
        await wait_console(client, iid, f"TASHI-TEST-READ {MARK}")
        asked = await client.operate_instance(iid, "suspend")
        assert asked.state == "Suspending"
        done = await wait_state(client, iid, "Suspended", timeout_s=60)
        assert done.host is None, done
        assert done.saved, done
        before = await ticks(client, iid)
        assert before, "no tick before the suspend"
        assert qemu_pids(iid, st.agent_state) == [], "a QEMU runs for a suspended VM"
        assert (await client.get_host("e2e-host")).claims == [], "its claim was kept"
        saved = st.suspend_dir / str(iid)
        assert (saved / "memory").stat().st_size > 0
        assert (saved / "done").exists()
        assert sorted(p.name for p in saved.glob("disk*")) == ["disk0.qcow2", "disk1.qcow2"]
        assert not (st.agent_state / "instances" / str(iid)).exists()

        await client.operate_instance(iid, "resume")
        back = await wait_state(client, iid, "Running", timeout_s=60)
        assert back.host == "e2e-host"
        assert not back.saved
        last = max(before)
        await wait_console(client, iid, f"TASHI-GUEST-TICK {last + 2}", timeout_s=30)
        # the console since the resume (a new log): the count goes on, never from 1 (the
        # tick printed just before the save may not have reached the manager)
        after = await ticks(client, iid)
        assert after, "no tick since the resume"
        assert after[0] in (last + 1, last + 2), (last, after[:10])
        assert after == list(range(after[0], after[0] + len(after))), after
        console = await wait_console(client, iid, f"TASHI-TEST-READ {MARK}")
        assert "TASHI-GUEST-READY" not in console, "the guest booted again"
        assert not saved.exists(), "the saved state outlived a successful resume"
        assert len(qemu_pids(iid, st.agent_state)) == 1


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only, for root too: a read-only bind mount of itself (removed
    after, also on failure)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


async def test_a_read_only_suspend_directory_leaves_it_running(tmp_path: Path,
                                                               guest_image: Path) -> None:
    assert os.geteuid() == 0, "this test needs root (a read-only bind mount)"
    async with running_stack(Stack(tmp_path), guest_image) as (st, client):
        iid = await create(client, "stays")
        with read_only(st.suspend_dir):
            await client.operate_instance(iid, "suspend")
            for _ in range(240):
                inst = await client.get_instance(iid)
                if inst.last_failure:
                    break
                await asyncio.sleep(0.25)
        assert inst.state == "Running", inst
        assert inst.power == "running", inst
        assert "suspend failed on host e2e-host" in inst.last_failure, inst.last_failure
        assert "Read-only file system" in inst.last_failure, inst.last_failure
        assert len(qemu_pids(iid, st.agent_state)) == 1
        before = max(await ticks(client, iid))
        await wait_console(client, iid, f"TASHI-GUEST-TICK {before + 2}", timeout_s=30)
        assert list(st.suspend_dir.rglob("memory*")) == [], "a partial save was left"
