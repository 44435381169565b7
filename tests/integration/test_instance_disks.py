"""Extra disks (image, blank, scratch) and cloud-init seeds, through the API."""

from __future__ import annotations

import re

import pytest

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tashi.domain.errors import InvalidInput
from tests.integration.conftest import Rig

SCRIPT = "#!/bin/sh\necho secret-token-123 > /tmp/x\n"


def vm(name: str, **kw: object) -> InstanceCreate:
    return InstanceCreate.model_validate({"name": name, "image": "guest", **kw})


async def test_blank_and_scratch_disks_are_claimed_on_the_host(scheduled: Rig) -> None:
    await scheduled.add_host("small", FakeDriver(disk_gib=10))
    made = await scheduled.admin.create_instance(vm("d", disks=[
        {"scratch_gib": 5, "bus": "scsi"}, {"size_gib": 2, "cache": "none"},
        {"image": "guest"}]))
    assert [(d.image, d.size_gib, d.scratch, d.bus, d.cache) for d in made.disks] == [
        ("guest", 0, False, "virtio", "writeback"), ("", 5, True, "scsi", "writeback"),
        ("", 2, False, "virtio", "none"), ("guest", 0, False, "virtio", "writeback")]
    assert made.disk_gib == 7
    await scheduled.wait_for(made.id, "Running")
    assert (await scheduled.admin.get_host("small")).used_disk_gib == 7
    agent = scheduled.client(scheduled.tokens["small"])
    (desired,) = (await agent.desired("small", None, 0)).instances
    assert [(k.size_gib, k.scratch, k.format) for k in desired.disks] == [
        (0, False, "raw"), (5, True, "raw"), (2, False, "qcow2"), (0, False, "raw")]
    await scheduled.admin.create_instance(vm("big", disk_gib=4))  # the older shorthand
    await scheduled.wait_pending("big", "lack disk (need 4 GiB, best has 3)")


@pytest.mark.parametrize(("disks", "why"), [
    ([{}], "disk 1: give exactly one of image=NAME, size=GiB or scratch=GiB (got none)"),
    ([{"size_gib": 1, "scratch_gib": 1}], "disk 1: give exactly one"),
    ([{"size_gib": 1, "persistent": True}], "disk 1: persistent goes with image=NAME"),
    ([{"image": "nope"}], "unknown image 'nope'"),
])
async def test_bad_disks_are_refused_with_the_reason(rig: Rig, disks: list[dict[str, object]],
                                                      why: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(why)):
        await rig.admin.create_instance(vm("x", disks=disks))
    assert await rig.admin.list_instances() == []


async def test_a_seed_is_shown_without_its_user_data(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 alice@laptop"
    made = await scheduled.admin.create_instance(vm("s", user_data=SCRIPT, ssh_keys=[key]))
    assert made.seed is not None
    assert (made.seed.hostname, made.seed.ssh_keys, made.seed.user_data_bytes) == (
        "s", [key], len(SCRIPT))
    assert "secret-token-123" not in made.model_dump_json()
    await scheduled.wait_for(made.id, "Running")
    events = await scheduled.admin.events("s")
    assert all("secret-token-123" not in e.message for e in events)
    agent = scheduled.client(scheduled.tokens["h1"])
    (desired,) = (await agent.desired("h1", None, 0)).instances
    assert desired.seed is not None
    assert desired.seed.user_data == SCRIPT  # the host's agent needs it to build the seed
    plain = await scheduled.admin.create_instance(vm("plain"))
    assert plain.seed is None  # no seed unless one is asked for


async def test_a_bad_hostname_is_refused(rig: Rig) -> None:
    with pytest.raises(InvalidInput, match="invalid hostname '-x'"):
        await rig.admin.create_instance(vm("x", hostname="-x"))
