"""Draining hosts, and what the cluster holds (layout) and still fits (slots)."""

from __future__ import annotations

import pytest

from tashi.api.schemas import InstanceCreate
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
