"""`tashi host evacuate` on real QEMU: three VMs running on host m1 move live to m2 (at
most two migrations at once per host), their guests counting on and their disks along,
and m1 is left Drained with nothing on it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tashi.common.subprocesses import communicate
from tests.e2e.conftest import BIN
from tests.e2e.test_migration import disk_counter, running_vm, runs_on_one_host, ticks, two_hosts

pytestmark = pytest.mark.e2e


async def test_evacuate_moves_three_running_vms_live_and_drains_the_host(
        tmp_path: Path, guest_image: Path) -> None:
    async with two_hosts(tmp_path, guest_image) as (st, client):
        vms = [await running_vm(st, client, f"vm{n}", "m1") for n in range(3)]
        before = {v.id: (max(ticks(await client.console(v.id))),
                         disk_counter(st, "m1", v.id)) for v in vms}
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "tashi"), "host", "evacuate", "m1", "--wait", "--timeout", "300",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TASHI_URL": st.url, "TASHI_TOKEN": st.admin_token})
        out, err = await communicate(proc, 360)
        assert proc.returncode == 0, (out.decode(), err.decode())
        assert "host m1: evacuated; Drained" in out.decode(), out.decode()
        host = await client.get_host("m1")
        assert (host.state, host.instances, host.claims) == ("Drained", 0, [])
        for v in vms:
            moved = await runs_on_one_host(st, client, v.id, "m2")
            assert moved.last_migration is not None
            assert (moved.last_migration.source, moved.last_migration.target) == ("m1", "m2")
            assert moved.last_migration.downtime_ms < 2000, moved.last_migration
            shown = ticks(await client.console(v.id))
            assert max(shown) >= before[v.id][0] + 2, shown  # counted on,
            assert shown == sorted(shown), shown  # without a reboot
            assert disk_counter(st, "m2", v.id) > before[v.id][1]  # its disk came along
        events = [e.message for e in await client.list_events(host="m1")]
        assert any("Evacuating -> Drained by the evacuation of host m1" in m
                   for m in events), events
        migrations = [e for v in vms for e in await client.events(v.id)
                      if e.kind == "instance.migrated" and "asked by the evacuation of "
                      "host m1" in e.message]
        assert len(migrations) == 3, migrations
