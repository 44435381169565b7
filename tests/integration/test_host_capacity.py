"""Draining hosts, and what the cluster holds (layout) and still fits (slots)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from tashi.api.schemas import InstanceCreate
from tashi.cmd.cli import main
from tashi.domain.errors import InvalidInput
from tests.integration.conftest import Rig


def vm(name: str, memory_mib: int = 1024) -> InstanceCreate:
    return InstanceCreate(name=name, image="guest", memory_mib=memory_mib)


async def test_drained_host_takes_nothing_new_until_undrained(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    drained = await scheduled.admin.set_host_state("h1", "Drained")
    assert drained.state == "Drained"
    await scheduled.admin.create_instance(vm("wait"))
    await scheduled.wait_pending("wait", "1 drained")
    await scheduled.admin.set_host_state("h1", "Normal")
    assert (await scheduled.wait_for("wait", "Running")).host == "h1"


async def test_slots_and_layout(scheduled: Rig) -> None:
    await scheduled.add_host("h1")  # 8 cores, 8192 MiB
    await scheduled.add_host("h2")
    await scheduled.admin.set_host_state("h2", "Drained")
    await scheduled.admin.create_instance(vm("a", 3072))
    await scheduled.wait_for("a", "Running")
    out = await scheduled.admin.slots(1, 1024)
    per_host = {h.name: (h.slots, h.why) for h in out.hosts}
    assert per_host == {"h1": (5, "memory"), "h2": (0, "drained")}
    assert out.total == 5
    assert (await scheduled.admin.slots(4, 512)).total == 1  # 7 cores left: cores limit
    layout = {e.host.name: e for e in await scheduled.admin.layout()}
    assert [i.name for i in layout["h1"].instances] == ["a"]
    assert (layout["h1"].host.used_memory_mib, layout["h1"].host.memory_mib) == (3072, 8192)
    assert layout["h2"].instances == []


async def test_bad_host_state_is_rejected(rig: Rig) -> None:
    await rig.add_host("h1")
    with pytest.raises(InvalidInput, match="state"):
        await rig.admin.set_host_state("h1", "Sleeping")


async def test_host_show_lists_the_claims_on_it(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    await scheduled.admin.create_instance(InstanceCreate(name="web", image="guest",
                                                         memory_mib=512, disk_gib=2))
    running = await scheduled.wait_for("web", "Running")
    shown = await scheduled.admin.get_host("h1")
    assert [(c.instance_id, c.instance, c.owner, c.role, c.cores, c.memory_mib, c.disk_gib)
            for c in shown.claims] == [(running.id, "web", "admin", "primary", 1, 512, 2)]
    assert (shown.used_memory_mib, shown.used_disk_gib) == (512, 2)  # usage is the claims
    flags = ["--url", scheduled.url, "--token", scheduled.admin_token]
    out = await asyncio.to_thread(CliRunner().invoke, main, [*flags, "host", "show", "h1"])
    assert out.exit_code == 0, out.output
    claims = out.stdout.split("claims:\n", 1)[1].splitlines()
    assert claims[0].split() == ["INSTANCE", "OWNER", "ROLE", "CORES", "MEMORY", "DISK", "SINCE"]
    assert claims[1].split()[:8] == ["web", f"({running.id})", "admin", "primary", "1",
                                     "512", "MiB", "2"]
    await scheduled.admin.destroy_instance("web")
    await scheduled.wait_gone("web")
    assert (await scheduled.admin.get_host("h1")).claims == []
